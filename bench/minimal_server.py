"""The naive baseline for our stack: FastAPI parses a V2 body into pydantic models, then predicts.

This is what a first FastAPI inference endpoint usually looks like; the benchmark runs it next to
the real server so the cost of everything the real server adds (validation, metrics, drift) and
saves (no second validation in scikit-learn, cheaper JSON) is measured, not guessed.
Run: python bench/minimal_server.py --port 9000 --model lr=/path/model.joblib --model rf=...
"""

from __future__ import annotations

import argparse
from typing import Any

import joblib
import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel


class Tensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[float] | list[list[float]]


class InferRequest(BaseModel):
    inputs: list[Tensor]


def build(models: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: InferRequest) -> dict[str, Any]:
        model = models.get(name)
        if model is None:
            raise HTTPException(404, f"unknown model {name}")
        tensor = request.inputs[0]
        x = np.asarray(tensor.data, dtype=np.float64).reshape(tensor.shape)
        y = model.predict(x)
        return {
            "model_name": name,
            "outputs": [
                {"name": "predict", "shape": [len(y)], "datatype": "INT64", "data": y.tolist()}
            ],
        }

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", action="append", default=[], help="name=path/to/model.joblib")
    args = parser.parse_args()
    models = {name: joblib.load(path) for name, path in (m.split("=", 1) for m in args.model)}
    uvicorn.run(
        build(models),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
