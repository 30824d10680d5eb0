"""Draw docs/architecture.svg: how a call of F.conv2d and its backward pass cross the
layers of minigrad.  Run from the repository root: ``python docs/architecture_diagram.py``
(matplotlib, the ``examples`` extra).  The output is byte-for-byte reproducible: text is
kept as text, and the date and the random ids of the SVG are fixed.
"""

from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

# One band per layer, top to bottom in the order a forward call meets them:
# (layer, where it lives, forward box, backward box).
BANDS = [
    (
        "your code",
        "",
        "y = F.conv2d(x, w, b)\n"
        "or nn.Conv2d(...)(x): Module.__call__ -> Conv2d.forward -> F.conv2d",
        "loss.backward()\nTensor.backward (tensor.py)",
    ),
    (
        "op: arguments",
        "minigrad/ops/",
        "conv.py  conv2d -> _conv;  checks.py  int_arg, int_tuple\n"
        "spatial.py  Spatial: rank, dtype, 1-d / unbatched views,\n"
        "ints, padding, output_size (conv_output_size);\n"
        "Spatial.call: reject_nan (NaN policy), then apply",
        "(not on the way back: arguments are\nchecked once, in forward)",
    ),
    (
        "tape",
        "autograd.py, tape.py,\ntensor.py",
        "Function.apply: Tensors -> arrays, forward, result -> Tensor;\n"
        "grad mode on and an input requires grad: a Context node\n"
        "(inputs, ctx.save_for_backward arrays, seq, version stamps)",
        "tape.run_backward: nodes in decreasing seq;\n"
        "check_saved (version counters, fingerprints);\n"
        "fn.backward(ctx, g); _fit_grad; _accumulate_grad",
    ),
    (
        "op: Function",
        "minigrad/ops/conv.py",
        "Conv2dFn.forward(ctx, x, w, b, ...)\n(_Viewed.forward around it for 1-d / unbatched)",
        "Conv2dFn.backward(ctx, g) -> (gx, gw, gb)\n(_Viewed.backward gives caller-shaped grads)",
    ),
    (
        "Cython wrapper",
        "src_c/conv.pyx,\nsrc_c/checks.pyx",
        "conv2d_forward: checks.array / ints / threads,\n"
        "_geometry -> mg_conv_shape (checks.window_count);\n"
        "GIL released; checks.status(rc) -> MemoryError",
        "conv2d_backward_input (h), conv2d_backward_weight (g)\nsame checks, same status",
    ),
    (
        "C kernel family",
        "src_c/conv_*.{c,h}",
        "conv_f32.c  mg_conv2d_forward_f32  (conv_f64.c: _f64)\n"
        "-> conv_template.h  conv2d_forward (static, over real)",
        "mg_conv2d_backward_input_f32 / _weight_f32\n"
        "-> conv2d_backward_input / conv2d_backward_weight",
    ),
    (
        "shared runtime",
        "minigrad._C.core\n(src_c/core.pyx)",
        "gemm.h  mg_sgemm_packed, mg_sgemm_direct, ...: a family's calls go through\n"
        "forwarders (mg_runtime_client.c) and the capsule table MG_RUNTIME (mg_runtime.h,\n"
        "mg_runtime.c) to the one GEMM (gemm_f32.c, gemm_f64.c over gemm_template.h);\n"
        "mg_cpu.c  mg_cpu_isa(): avx512 / avx2 / generic;  threads (set_num_threads); has_nan",
        None,
    ),
]

COLORS = ["#f2f2f2", "#e3eefa", "#fdf1dc", "#e3eefa", "#e6f4e6", "#f7e4e4", "#ece6f5"]
W, BAND_H, GAP = 13.0, 1.0, 0.18
LABEL_W = 2.0
COL_L = (LABEL_W + 0.1, 5.9)  # x, width of the forward boxes
COL_R = (LABEL_W + 6.2, 4.6)  # x, width of the backward boxes
MONO = {"family": "monospace", "size": 7.6}


def box(ax, x, y, w, h, text, color, dashed=False):
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.06",
            fc=color,
            ec="#555555",
            lw=0.8,
            ls="--" if dashed else "-",
        )
    )
    ax.text(x + 0.08, y + h / 2, text, va="center", ha="left", **MONO)


def arrow(ax, start, end, dashed=False, text=None):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=10,
            lw=1.0,
            color="#333333",
            ls=(0, (4, 3)) if dashed else "-",
            shrinkA=0,
            shrinkB=0,
        )
    )
    if text:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        ax.text(mx + 0.06, my, text, fontsize=7, style="italic", va="center", ha="left")


def main(out: str) -> None:
    plt.rcParams["svg.fonttype"] = "none"  # text stays text (searchable, small)
    plt.rcParams["svg.hashsalt"] = "minigrad-architecture"
    n = len(BANDS)
    height = n * (BAND_H + GAP) + 0.5
    fig = plt.figure(figsize=(W, height))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, W)
    ax.set_ylim(0, height)
    ax.axis("off")
    ax.text(COL_L[0] + COL_L[1] / 2, height - 0.2, "forward: F.conv2d(x, w, b)", ha="center",
            fontsize=9, weight="bold")  # fmt: skip
    ax.text(COL_R[0] + COL_R[1] / 2, height - 0.2, "backward: loss.backward()", ha="center",
            fontsize=9, weight="bold")  # fmt: skip
    tops = []
    for i, (layer, where, fwd, bwd) in enumerate(BANDS):
        y = height - 0.45 - (i + 1) * (BAND_H + GAP) + GAP
        tops.append(y)
        ax.add_patch(FancyBboxPatch((0.05, y - 0.04), W - 0.1, BAND_H + 0.08,
                                    boxstyle="square,pad=0", fc=COLORS[i], ec="none"))  # fmt: skip
        ax.text(0.15, y + BAND_H / 2 + 0.12, layer, fontsize=9, weight="bold", va="center")
        ax.text(0.15, y + BAND_H / 2 - 0.2, where, fontsize=7, va="center", family="monospace")
        if bwd is None:  # one box across both columns
            box(ax, COL_L[0], y, COL_R[0] + COL_R[1] - COL_L[0], BAND_H, fwd, "white")
        else:
            box(ax, COL_L[0], y, COL_L[1], BAND_H, fwd, "white")
            skip = 0.6 if i == 1 else 0.0  # room for the backward arrow that passes by
            box(ax, COL_R[0] + skip, y, COL_R[1] - skip, BAND_H, bwd, "white", dashed=i == 1)
    xl = COL_L[0] + 0.35
    xr = COL_R[0] + 0.35
    for i in range(n - 1):  # forward: each layer calls the next
        arrow(ax, (xl, tops[i]), (xl, tops[i + 1] + BAND_H))
    arrow(ax, (xr, tops[0]), (xr, tops[2] + BAND_H), dashed=True)  # backward skips the checks
    for i in range(2, n - 1):
        arrow(ax, (xr, tops[i]), (xr, tops[i + 1] + BAND_H), dashed=True)
    # the gradients come back up as arrays; the engine accumulates them into .grad
    xg = COL_R[0] + COL_R[1] - 0.3
    arrow(ax, (xg, tops[3] + BAND_H), (xg, tops[2]), text=None)
    ax.text(xg - 0.08, tops[3] + BAND_H + GAP / 2, "grads", fontsize=7, style="italic",
            ha="right", va="center")  # fmt: skip
    # the node recorded in forward is what backward walks
    y_node = tops[2] + BAND_H / 2
    arrow(ax, (COL_L[0] + COL_L[1], y_node), (COL_R[0], y_node), dashed=True)
    ax.text((COL_L[0] + COL_L[1] + COL_R[0]) / 2, y_node + 0.12, "node", fontsize=7,
            style="italic", ha="center")  # fmt: skip
    fig.savefig(out, metadata={"Date": None})
    plt.close(fig)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "architecture.svg"))
