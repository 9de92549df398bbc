"""``pacsaudit deid``: the PS3.15 Annex E Basic Confidentiality Profile applied to files."""
