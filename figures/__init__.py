"""figures: one function per paper figure, all built by ``qopt figures``."""
