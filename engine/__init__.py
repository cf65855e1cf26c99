"""Pack + question -> answer: vLLM in-process, OpenAI-compatible servers, the answer cache."""
