"""Weight formats: detection, readers and writers, quantization, verification."""
