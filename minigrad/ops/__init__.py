"""Differentiable ops grouped by kind.  Each op is a ``Function`` subclass with its
forward and backward next to each other, plus a small public function that
checks arguments and calls ``apply``."""
