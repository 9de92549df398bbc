"""pacsaudit: find, measure and fix medical-imaging systems that expose patient data."""

__version__ = "0.1.0"
