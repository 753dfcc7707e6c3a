"""Box-and-arrow diagrams for the chapters (07: the agent, 08: the dream), drawn with matplotlib."""
import matplotlib.pyplot as plt


def box_diagram(boxes, arrows, path, title, size=(7.5, 3.2), fontsize=10):
    """Boxes {name: (x, y, colour)} on a 10 x 4 canvas, arrows [(from, to, label, bend)]."""
    fig, ax = plt.subplots(figsize=size)
    ax.set_xlim(0, 10), ax.set_ylim(0, 4), ax.axis("off")
    text = {name: ax.text(x, y, name, ha="center", va="center", fontsize=fontsize,
                          bbox=dict(boxstyle="round,pad=0.5", fc=colour, ec="black"))
            for name, (x, y, colour) in boxes.items()}
    for a, b, label, bend in arrows:                 # each arrow clipped at the two boxes' edges
        (xa, ya, _), (xb, yb, _) = boxes[a], boxes[b]
        ax.annotate("", (xb, yb), (xa, ya), arrowprops=dict(
            arrowstyle="-|>", patchA=text[a].get_bbox_patch(), patchB=text[b].get_bbox_patch(),
            shrinkA=2, shrinkB=2, connectionstyle=f"arc3,rad={bend}"))
        ax.text((xa + xb) / 2 + bend / 2 * (yb - ya), (ya + yb) / 2 - bend / 2 * (xb - xa) + 0.1, label,
                ha="center", fontsize=9, color="darkred")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
