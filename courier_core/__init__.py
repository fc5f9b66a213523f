"""Torch-free core shared by training, model export and the service: data contract, image function,
manifest schema and cache key layout. Nothing here may import torch, onnx or onnxruntime."""
