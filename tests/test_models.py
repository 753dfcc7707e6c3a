"""V and M: shapes from the paper, losses against their formulas, gradients, export layout."""
import numpy as np
import pytest
from gradcheck import check_grads

from minwm import mdnrnn, parallel, vae
from minwm.autograd import Tensor, no_grad, tensor
from minwm.kernels import dropout_keep

F64 = np.float64


def test_vae_shapes_and_parameter_layout():
    rng = np.random.default_rng(0)
    cfg = vae.VAEConfig(nz=64)
    p = vae.init_params(cfg, rng)
    assert p["enc.conv1.w"].shape == (4, 4, 3, 32) and p["enc.conv4.w"].shape == (4, 4, 128, 256)
    assert p["enc.mu.w"].shape == (1024, 64) and p["dec.dense.w"].shape == (64, 1024)
    assert p["dec.deconv1.w"].shape == (1024, 5, 5, 128) and p["dec.deconv4.w"].shape == (32, 6, 6, 3)
    x = tensor(rng.random((3, 64, 64, 3)))
    with no_grad():
        mu, logvar = vae.encode(p, x)
        x_hat = vae.decode(p, mu)
    assert mu.shape == logvar.shape == (3, 64) and x_hat.shape == (3, 64, 64, 3)
    assert x_hat.dtype == np.float32 and np.all((x_hat.data > 0) & (x_hat.data < 1))


def test_vae_batch_split_over_threads_gives_the_one_graph_loss_and_gradient(monkeypatch):
    """loss_and_grad (the batch in parts, one thread each) = loss() on the whole batch + backward."""
    cfg = vae.VAEConfig(nz=8)
    p = vae.init_params(cfg, np.random.default_rng(0), dtype=F64)
    x = np.random.default_rng(1).random((5, 64, 64, 3))
    monkeypatch.setattr(parallel, "parts", lambda: 3)                 # uneven parts: 1, 2, 2
    losses = vae.loss_and_grad(p, cfg, x, np.random.default_rng(2))
    split = {k: t.grad for k, t in p.items()}
    for t in p.values():
        t.grad = None
    ref = vae.loss(p, cfg, Tensor(x), np.random.default_rng(2))
    ref[0].backward()
    np.testing.assert_allclose(losses, [float(v.data) for v in ref], rtol=1e-12)
    for k, t in p.items():
        np.testing.assert_allclose(split[k], t.grad, rtol=1e-9, atol=1e-12, err_msg=k)


def test_vae_loss_matches_formula_with_kl_floor():
    rng = np.random.default_rng(1)
    cfg = vae.VAEConfig(nz=32)
    p = vae.init_params(cfg, rng, dtype=F64)
    x = tensor(rng.random((4, 64, 64, 3)), dtype=F64)
    with no_grad():
        loss, r_loss, kl_loss = vae.loss(p, cfg, x, np.random.default_rng(7))
        mu, logvar = vae.encode(p, x)
        eps = np.random.default_rng(7).standard_normal(mu.shape)
        x_hat = vae.decode(p, tensor(mu.data + np.exp(logvar.data / 2) * eps, dtype=F64)).data
    kl = -0.5 * np.sum(1 + logvar.data - mu.data ** 2 - np.exp(logvar.data), axis=1)
    np.testing.assert_allclose(r_loss.data, np.mean(np.sum((x.data - x_hat) ** 2, axis=(1, 2, 3))))
    np.testing.assert_allclose(kl_loss.data, np.mean(np.maximum(kl, 0.5 * 32)))
    assert kl.max() < 16 and float(kl_loss.data) == 16.0  # at init the floor binds...
    p["enc.mu.b"].data += 3.0                                # ...and not once mu moves away
    with no_grad():
        assert float(vae.loss(p, cfg, x, np.random.default_rng(7))[2].data) > 16.0
    np.testing.assert_allclose(loss.data, r_loss.data + kl_loss.data)


def mixture_nll_reference(y, z_next, nz, k):
    """Direct evaluation of -log sum_k pi_k N(z; mu_k, sigma_k^2), mean over everything."""
    ZK = nz * k
    logits = y[..., :ZK].reshape(*y.shape[:-1], nz, k)
    mu = y[..., ZK:2 * ZK].reshape(logits.shape)
    sigma = np.exp(y[..., 2 * ZK:3 * ZK].reshape(logits.shape))
    pi = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    dens = np.exp(-0.5 * ((z_next[..., None] - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    return -np.mean(np.log(np.sum(pi * dens, axis=-1)))


@pytest.mark.parametrize("doom", [False, True])
def test_head_loss_matches_reference_and_gradcheck(doom):
    rng = np.random.default_rng(2)
    cfg = mdnrnn.MDNRNNConfig(nz=3, na=1, hidden=4, k=5, restart=doom, done=doom)
    y = tensor(rng.standard_normal((2, 4, cfg.n_out)) * 0.5, True, F64)
    z_next = rng.standard_normal((2, 4, 3))
    done = (rng.random((2, 4)) < 0.4).astype(F64) if doom else None
    _, z_loss, done_loss = mdnrnn.head_loss(y, cfg, z_next, done)
    np.testing.assert_allclose(z_loss, mixture_nll_reference(y.data, z_next, 3, 5), rtol=1e-12)
    if doom:
        x = y.data[..., -1]
        p = 1 / (1 + np.exp(-x))
        ref = np.mean(-(1 + 9 * done) * (done * np.log(p) + (1 - done) * np.log(1 - p)))
        np.testing.assert_allclose(done_loss, ref, rtol=1e-12)
    check_grads(lambda: mdnrnn.head_loss(y, cfg, z_next, done)[0], [y])
    # a mask drops the terms whose target is another episode's frame from the mean
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1]], F64)
    z_masked = mdnrnn.head_loss(y, cfg, z_next, done, mask)[1]
    keep = mask.astype(bool)
    np.testing.assert_allclose(
        z_masked, mixture_nll_reference(y.data[keep][None], z_next[keep][None], 3, 5), rtol=1e-12)
    check_grads(lambda: mdnrnn.head_loss(y, cfg, z_next, done, mask)[0], [y])


@pytest.mark.parametrize("doom", [False, True])
def test_mdnrnn_gradcheck_end_to_end(doom):
    rng = np.random.default_rng(3)
    cfg = mdnrnn.MDNRNNConfig(nz=3, na=2, hidden=4, k=2, restart=doom, done=doom)
    p = mdnrnn.init_params(cfg, rng, dtype=F64)
    z = rng.standard_normal((2, 6, 3))
    a = rng.uniform(-1, 1, (2, 5, 2))
    restart = np.array([[1, 0, 0, 1, 0], [1, 0, 0, 0, 0]], F64) if doom else None
    done = np.array([[0, 0, 1, 0, 0], [0, 0, 0, 0, 1]], F64) if doom else None
    check_grads(lambda: mdnrnn.loss(p, cfg, z, a, restart, done)[0], list(p.values()))


@pytest.mark.parametrize("doom", [False, True])
def test_mdnrnn_gradcheck_with_dropout(doom):
    # Dropout's Dream Land's masks on z and h_{t-1}: gradients through both, and z alone dropped
    rng = np.random.default_rng(5)
    cfg = mdnrnn.MDNRNNConfig(nz=3, na=2, hidden=4, k=2, restart=doom, done=doom)
    p = mdnrnn.init_params(cfg, rng, dtype=F64)
    z = rng.standard_normal((2, 6, 3))
    a = rng.uniform(-1, 1, (2, 5, 2))
    restart = np.array([[1, 0, 0, 1, 0], [1, 0, 0, 0, 1]], F64) if doom else None
    done = np.array([[0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], F64) if doom else None
    keep = dropout_keep(rng, (2, 3 + 4), 0.4)
    keep[0, [0, 4]], keep[1, [2, 6]] = 0, 0                          # at least one of z and of h
    loss = lambda k=keep: mdnrnn.loss(p, cfg, z, a, restart, done, keep=k)[0]
    check_grads(loss, list(p.values()))
    with no_grad():
        assert abs(float(loss().data) - float(loss(None).data)) > 1e-4
        assert float(loss(np.ones_like(keep)).data) == float(loss(None).data)
        y, y_ref = (mdnrnn.forward(p, cfg, tensor(zz[:, :-1], dtype=F64), tensor(a, dtype=F64),
                                   restart, keep=keep) for zz in (z, z + (np.arange(3) == 0)))
    # z's dimension 0 is dropped in row 0 only: changing it there changes nothing, in row 1 it does
    np.testing.assert_array_equal(y.data[0], y_ref.data[0])
    assert np.abs(y.data[1] - y_ref.data[1]).max() > 1e-6


@pytest.mark.parametrize("doom", [False, True])
def test_mdnrnn_batch_split_over_threads_gives_the_one_graph_loss_and_gradient(doom, monkeypatch):
    """loss_and_grad (sequences in parts, one thread each; each part's z and done losses weighted
    by its share of their means) = loss() on the whole batch + backward, carried state included."""
    rng = np.random.default_rng(5)
    cfg = mdnrnn.MDNRNNConfig(nz=3, na=2, hidden=4, k=2, restart=doom, done=doom)
    p = mdnrnn.init_params(cfg, rng, dtype=F64)
    N, T = 5, 6
    z, a = rng.standard_normal((N, T + 1, 3)), rng.uniform(-1, 1, (N, T, 2))
    restart, done, mask = ((rng.random((3, N, T)) < [[[0.2]], [[0.3]], [[0.7]]]).astype(F64)
                           if doom else (None, None, None))
    h0 = [rng.standard_normal((N, 4)), rng.standard_normal((N, 4))]
    keep = dropout_keep(rng, (N, 3 + 4), 0.3)                          # rnn.dropout's masks too
    monkeypatch.setattr(parallel, "parts", lambda: 3)                 # uneven parts: 1, 2, 2
    carry = list(h0)
    losses = mdnrnn.loss_and_grad(p, cfg, z, a, restart, done, mask, carry, keep)
    split = {k: t.grad for k, t in p.items()}
    for t in p.values():
        t.grad = None
    ref_carry = list(h0)
    loss, z_loss, done_loss = mdnrnn.loss(p, cfg, z, a, restart, done, mask, ref_carry, keep)
    loss.backward()
    np.testing.assert_allclose(losses, [float(loss.data), z_loss, done_loss], rtol=1e-12)
    for k, t in p.items():
        np.testing.assert_allclose(split[k], t.grad, rtol=1e-9, atol=1e-12, err_msg=k)
    for got, want in zip(carry, ref_carry):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_mdnrnn_learns_a_predictable_sequence():
    # z_{t+1} = -z_t (+ tiny noise): M must drive its NLL far below the N(0, 1) baseline of ~1.42
    rng = np.random.default_rng(4)
    cfg = mdnrnn.MDNRNNConfig(nz=2, na=1, hidden=16, k=3)
    p = mdnrnn.init_params(cfg, rng)
    from minwm.optim import Adam, clip_grad_value
    opt = Adam(p.values(), lr=1e-2)
    z0 = rng.standard_normal((32, 1, 2))
    z = (z0 * (-1.0) ** np.arange(11)[None, :, None] + 0.01 * rng.standard_normal((32, 11, 2)))
    z, a = z.astype(np.float32), np.zeros((32, 10, 1), np.float32)
    first = None
    for it in range(300):
        opt.zero_grad()
        loss, z_loss, _ = mdnrnn.loss(p, cfg, z, a)
        loss.backward()
        clip_grad_value(p.values(), 1.0)
        opt.step()
        first = first if first is not None else z_loss
    assert first > 1.0 and z_loss < -1.0, (first, z_loss)


def test_export_layout(tmp_path):
    rng = np.random.default_rng(5)
    cv, cm = vae.VAEConfig(nz=64), mdnrnn.MDNRNNConfig(nz=64, na=1, hidden=512, restart=True, done=True)
    pv, pm = vae.init_params(cv, rng), mdnrnn.init_params(cm, rng)
    vae.export(pv, cv, tmp_path / "vae.npz")
    mdnrnn.export(pm, cm, tmp_path / "mdnrnn.npz")
    with np.load(tmp_path / "vae.npz") as f:
        assert int(f["meta.nz"]) == 64
        for k, t in pv.items():
            np.testing.assert_array_equal(f[k], t.data)
    with np.load(tmp_path / "mdnrnn.npz") as f:
        assert f["lstm.wx"].shape == (64 + 1 + 1, 2048) and f["lstm.wh"].shape == (512, 2048)
        assert f["mdn.w"].shape == (512, 3 * 64 * 5 + 1)
        assert (int(f["meta.hidden"]), int(f["meta.restart"]), int(f["meta.done"])) == (512, 1, 1)
        np.testing.assert_array_equal(f["lstm.b"][512:1024], 1.0)  # forget-gate bias, order [i,f,g,o]
