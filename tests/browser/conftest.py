import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark a failed test so the page fixture can save a screenshot of what the browser showed."""
    outcome = yield
    if outcome.get_result().failed:
        item.failed = True
