"""Writes a golden file into test/golden/quant atomically (a .tmp file, then a rename), so an
interrupted run never leaves a half-written golden behind. Used by the quant golden scripts
that write plain JSON (fake_quant_edges, fake_quant_float64, histogram_edges, histogram_small,
int8_maxpool_edges, qparams_edges, convbn_folded)."""
import json
import os

QUANT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "quant")


def write_quant_json(name, obj, newline=False, **dump_kwargs):
    path = os.path.join(QUANT_DIR, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, **dump_kwargs)
        if newline:
            f.write("\n")
    os.replace(tmp, path)
    print("wrote", os.path.normpath(path))
