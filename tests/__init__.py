import pytest

# tests/boot.py is a plugin (pytest_plugins) whose names test modules also import: registered here, before
# any of them is imported, so that its asserts are rewritten as in a conftest.
pytest.register_assert_rewrite("tests.boot")
