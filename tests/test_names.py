import pytest

from madash.errors import UsageError
from madash.site.values import check_host_name, check_server_address


@pytest.mark.parametrize("name", ["laptop", "a", "web-01", "x" * 63, "0day", "db2"])
def test_valid_host_names(name: str) -> None:
    assert check_host_name(name) == name


@pytest.mark.parametrize("name", ["a_b", "../x", "", "x" * 64, "-lead", "trail-", "Laptop", "a.b", "a b", "ä"])
def test_invalid_host_names(name: str) -> None:
    with pytest.raises(UsageError) as info:
        check_host_name(name)
    assert info.value.exit_code == 2
    assert info.value.hint and "63" in info.value.hint


@pytest.mark.parametrize("address", ["127.0.0.1", "192.0.2.10", "::1", "2001:db8::5", "monitor", "Mon.Example.org"])
def test_valid_server_addresses(address: str) -> None:
    assert check_server_address(address) == address.lower()


@pytest.mark.parametrize(
    "address", ["999.1.1.1", "a b", "", "1.2.3", "under_score.example", "-x.example", "a..b", "x" * 254]
)
def test_invalid_server_addresses(address: str) -> None:
    with pytest.raises(UsageError):
        check_server_address(address)
