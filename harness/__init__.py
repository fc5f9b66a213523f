"""What tests and benchmarks both drive: a real redis-server, a real `python -m service` process, a small
real ONNX model repository and real image bytes. Tests wrap these in pytest fixtures (tests/fixtures/);
benchmarks import them directly. Nothing here imports the tests.
"""
