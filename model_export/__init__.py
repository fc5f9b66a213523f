"""Courier model export: a trained run's encoder → a versioned, parity-checked ONNX model repository."""
