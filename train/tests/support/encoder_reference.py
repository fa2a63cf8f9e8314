"""An independent computation of all-MiniLM-L6-v2 sentence vectors, for train/tests/encoder.rs.

Tokens from the Hugging Face `tokenizers` package (the model's own tokenizer.json), the forward
pass in numpy from model.safetensors read by hand (float64): nothing shared with the Rust code.

    python3 encoder_reference.py ENCODER_DIR < sentences.json > reference.json
"""
import json
import struct
import sys
from math import erf, sqrt

import numpy as np
from tokenizers import Tokenizer


def load_weights(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(meta["shape"]).astype(np.float64)
    return out


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def main():
    folder = sys.argv[1]
    config = json.load(open(f"{folder}/config.json"))
    weights = load_weights(f"{folder}/model.safetensors")
    tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    sentences = json.load(sys.stdin)
    heads = config["num_attention_heads"]
    eps = config["layer_norm_eps"]
    gelu = np.vectorize(lambda v: 0.5 * v * (1.0 + erf(v / sqrt(2.0))))
    result = []
    for sentence in sentences:
        ids = tokenizer.encode(sentence).ids
        w = lambda name: weights[name]
        x = w("embeddings.word_embeddings.weight")[ids]
        x = x + w("embeddings.position_embeddings.weight")[: len(ids)]
        x = x + w("embeddings.token_type_embeddings.weight")[0]
        x = layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), eps)
        for l in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{l}"
            lin = lambda v, name: v @ w(f"{p}.{name}.weight").T + w(f"{p}.{name}.bias")
            q, k, v = (lin(x, f"attention.self.{n}") for n in ("query", "key", "value"))
            d = q.shape[1] // heads
            ctx = np.zeros_like(q)
            for h in range(heads):
                sl = slice(h * d, (h + 1) * d)
                s = q[:, sl] @ k[:, sl].T / sqrt(d)
                s = np.exp(s - s.max(-1, keepdims=True))
                s /= s.sum(-1, keepdims=True)
                ctx[:, sl] = s @ v[:, sl]
            x = layer_norm(lin(ctx, "attention.output.dense") + x,
                           w(f"{p}.attention.output.LayerNorm.weight"),
                           w(f"{p}.attention.output.LayerNorm.bias"), eps)
            inner = gelu(lin(x, "intermediate.dense"))
            x = layer_norm(lin(inner, "output.dense") + x,
                           w(f"{p}.output.LayerNorm.weight"), w(f"{p}.output.LayerNorm.bias"), eps)
        pooled = x.mean(0)
        pooled /= np.linalg.norm(pooled)
        result.append({"ids": ids, "vector": pooled.tolist()})
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
