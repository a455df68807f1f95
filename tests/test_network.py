"""Proxies and private CAs, for real on loopback: a CONNECT proxy (``proxyserver``) and an https emulator.

The emulator's certificate comes from a test CA made with trustme; the proxy records what it saw,
so that each test proves which way a request went.
"""

from __future__ import annotations

import base64
import logging
import pickle
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st
from proxyserver import Proxy

from runeq_fn import Config, csv_points, pages
from runeq_fn.config.keys import describe
from runeq_fn.emulator import Emulator
from runeq_fn.errors import ConfigError, TransportError
from runeq_fn.http.hooks import on_sent
from runeq_fn.http.routes import bypasses_proxy
from runeq_fn.http.transport import fetch
from runeq_fn.policy import Policy
from runeq_fn.pull.build import build_request

START, END = 1609491600, 1609491602  # two seconds of accel at 50 Hz: 100 points, 4 pages of 25
QUERY = {"patient_id": "p1", "device_id": "d1", "start_time": START, "end_time": END}
PASSWORD = "pr0xy-s3cret-pw"
NO_RETRIES = Policy(retries=0, backoff=0)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pems(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test CA's certificate, and the emulator's certificate chain and key, as PEM files."""
    folder = tmp_path_factory.mktemp("pems")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    for blob in cert.cert_chain_pems:
        blob.write_to_path(str(paths["cert"]), append=True)
    cert.private_key_pem.write_to_path(str(paths["key"]))
    return paths


@pytest.fixture
def tls_emu(pems: dict[str, Path]) -> Iterator[Emulator]:
    with Emulator(page_size=25, tls=(str(pems["cert"]), str(pems["key"]))) as emulator:
        yield emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(page_size=25) as emulator:
        yield emulator


def pull(emu: Emulator, policy: Policy = NO_RETRIES, **values: str) -> list:
    """Every accel point of QUERY from ``emu``, with extra config values."""
    cfg = Config(**emu.config_values(), **values)
    return list(csv_points(pages(build_request(cfg, "accel", "csv", QUERY, policy=policy))))


def dead_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- TLS with a private CA -------------------------------------------------------------------------


def test_the_tls_emulator_serves_https(tls_emu: Emulator) -> None:
    assert tls_emu.url.startswith("https://127.0.0.1:")


def test_runeq_emulator_serves_https_with_the_given_certificate(tmp_path: Path, pems: dict[str, Path]) -> None:
    from commands import emulator_process

    flags = ["--page-size", "25", "--tls-cert", str(pems["cert"]), "--tls-key", str(pems["key"])]
    with emulator_process(tmp_path, *flags) as (proc, info):
        assert info["url"].startswith("https://127.0.0.1:")
        cfg = Config(**{k: v for k, v in info.items() if k != "url"}, stream_url=info["url"], ca_bundle=str(pems["ca"]))
        points = list(csv_points(pages(build_request(cfg, "accel", "csv", QUERY))))
    assert len(points) == 100
    assert proc.returncode == 0


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--tls-cert", "cert.pem"], "give both --tls-cert and --tls-key (PEM files) to serve https"),
        (["--tls-cert", "missing.pem", "--tls-key", "missing.pem"], "cannot start the emulator: [Errno 2]"),
    ],
)
def test_runeq_emulator_refuses_a_half_or_missing_certificate(tmp_path: Path, flags: list, message: str) -> None:
    from commands import run

    done = run(tmp_path, "emulator", *flags)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_private_ca_from_the_config_is_trusted(tls_emu: Emulator, pems: dict[str, Path]) -> None:
    points = pull(tls_emu, ca_bundle=str(pems["ca"]))
    assert len(points) == 100
    assert [r.status for r in tls_emu.requests] == [200] * 5


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_private_ca_from_the_environment_is_trusted(
    tls_emu: Emulator, pems: dict[str, Path], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, str(pems["ca"]))
    assert len(pull(tls_emu)) == 100


def test_the_config_ca_bundle_wins_over_the_environment(
    tls_emu: Emulator, pems: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    assert len(pull(tls_emu, ca_bundle=str(pems["ca"]))) == 100
    with pytest.raises(TransportError, match="not trusted"):
        pull(tls_emu)


def test_an_untrusted_certificate_is_reported_with_the_fix_and_not_retried(tls_emu: Emulator) -> None:
    with pytest.raises(TransportError) as err:
        pull(tls_emu, policy=Policy(retries=3, backoff=0))
    message = str(err.value)
    assert f"TLS verification failed for {tls_emu.url}" in message
    assert "certificate is not trusted" in message
    assert "set ca_bundle in the config (or REQUESTS_CA_BUNDLE)" in message
    assert err.value.resume is not None
    assert tls_emu.connections == 1  # the handshake failed once, and was not tried again
    assert tls_emu.requests == []


def test_a_bundle_from_another_ca_names_the_bundle(tls_emu: Emulator, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(TransportError) as err:
        pull(tls_emu, ca_bundle=str(other))
    assert f"by the CAs in {other} (from ca_bundle)" in str(err.value)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda d: d / "missing.pem", "which does not exist"),
        (lambda d: d, "which is not a file"),
        (lambda d: (d / "x.pem").write_text("not a certificate") and d / "x.pem", "which holds no PEM certificate"),
    ],
)
def test_a_bad_ca_bundle_in_the_config_is_refused_with_the_fix(tmp_path: Path, make, problem: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ConfigError) as err:
        Config(jwt="j", ca_bundle=str(path))
    assert str(err.value) == (
        f"ca_bundle in keywords names {path}, {problem}: give the path of a PEM file of the CA certificates to trust"
    )


def test_a_bad_ca_bundle_in_the_environment_names_the_variable(
    tls_emu: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "gone.pem"))
    with pytest.raises(ConfigError, match="REQUESTS_CA_BUNDLE in the environment names .*gone.pem, which does not"):
        pull(tls_emu)
    assert tls_emu.connections == 0


# -- proxies --------------------------------------------------------------------------------------


def test_http_goes_through_the_proxy_from_the_environment(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    with Proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        assert len(pull(emu)) == 100
    assert [s.method for s in proxy.seen] == ["GET"] * 5
    assert all(s.target.startswith(emu.url + "/v1/accel.csv?") for s in proxy.seen)


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_https_goes_through_the_proxy_by_connect(
    tls_emu: Emulator, pems: dict[str, Path], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    with Proxy() as proxy:
        monkeypatch.setenv(variable, proxy.url())
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")  # for http only: unused
        assert len(pull(tls_emu, ca_bundle=str(pems["ca"]))) == 100
    host = tls_emu.url.removeprefix("https://")
    assert [(s.method, s.target) for s in proxy.seen] == [("CONNECT", host)]  # one tunnel, kept alive
    assert len(tls_emu.requests) == 5


def test_an_https_proxy_is_reached_over_tls_trusting_the_ca_bundle(
    tls_emu: Emulator, ca: trustme.CA, pems: dict[str, Path]
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with Proxy(tls=context, auth=("me", PASSWORD)) as proxy:
        assert proxy.url().startswith("https://")
        assert len(pull(tls_emu, proxy=proxy.url("me", PASSWORD), ca_bundle=str(pems["ca"]))) == 100
    assert [s.method for s in proxy.seen] == ["CONNECT"]


def test_an_untrusted_proxy_certificate_names_the_proxy(emu: Emulator, ca: trustme.CA) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with Proxy(tls=context) as proxy, pytest.raises(TransportError) as err:
        pull(emu, policy=Policy(retries=3, backoff=0), proxy=proxy.url())
    assert f"TLS verification failed for the proxy https://127.0.0.1:{proxy.port} (from proxy): " in str(err.value)
    assert proxy.connections == 1 and proxy.seen == [] and emu.requests == []


def test_an_untrusted_server_behind_a_proxy_names_the_server(tls_emu: Emulator) -> None:
    with Proxy() as proxy, pytest.raises(TransportError) as err:
        pull(tls_emu, proxy=proxy.url())
    assert f"TLS verification failed for {tls_emu.url}: its certificate is not trusted" in str(err.value)
    assert len(proxy.seen) == 1


def test_the_emulator_takes_an_ssl_context(ca: trustme.CA, pems: dict[str, Path]) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with Emulator(page_size=25, tls=context) as emulator:
        assert len(pull(emulator, ca_bundle=str(pems["ca"]))) == 100


def test_the_config_proxy_wins_over_the_environment(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    with Proxy() as proxy:
        assert len(pull(emu, proxy=proxy.url())) == 100
    assert len(proxy.seen) == 5


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", "example.com, 127.0.0.1:{port}", "x.org localhost 127.0.0.1"])
def test_no_proxy_goes_around_the_proxy(emu: Emulator, monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    port = emu.url.rpartition(":")[2]
    with Proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", no_proxy.format(port=port))
        assert len(pull(emu)) == 100
        assert len(pull(emu, proxy=proxy.url())) == 100  # NO_PROXY applies to the config's proxy too
    assert proxy.seen == []


@pytest.mark.parametrize("no_proxy", ["127.0.0.2", "10.0.0.0/8", "127.0.0.1:1", "0.0.1"])
def test_no_proxy_that_does_not_match_keeps_the_proxy(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    with Proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("no_proxy", no_proxy)
        assert len(pull(emu)) == 100
    assert len(proxy.seen) == 5


@pytest.mark.parametrize("https", [False, True])
def test_proxy_credentials_are_sent_to_the_proxy_only(
    emu: Emulator, tls_emu: Emulator, pems: dict[str, Path], https: bool, caplog: pytest.LogCaptureFixture
) -> None:
    server = tls_emu if https else emu
    caplog.set_level(logging.DEBUG)
    with Proxy(auth=("me", PASSWORD)) as proxy:
        assert len(pull(server, proxy=proxy.url("me", PASSWORD), ca_bundle=str(pems["ca"]))) == 100
    expected = "Basic " + base64.b64encode(f"me:{PASSWORD}".encode()).decode()
    assert proxy.seen and all(s.headers["proxy-authorization"] == expected for s in proxy.seen)
    assert all("proxy-authorization" not in r.header_names for r in server.requests)
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("https", [False, True])
def test_a_proxy_that_wants_other_credentials_is_reported_without_the_password(
    emu: Emulator, tls_emu: Emulator, pems: dict[str, Path], https: bool, caplog: pytest.LogCaptureFixture
) -> None:
    server = tls_emu if https else emu
    caplog.set_level(logging.DEBUG)
    with Proxy(auth=("me", "another-password")) as proxy:
        with pytest.raises(TransportError) as err:
            pull(server, policy=Policy(retries=3, backoff=0), proxy=proxy.url("me", PASSWORD), ca_bundle=str(pems["ca"]))
    message = str(err.value)
    assert f"the proxy http://me:****@127.0.0.1:{proxy.port} (from proxy) refused" in message
    assert "407 Proxy Authentication Required" in message
    assert "check the user name and password in the proxy URL" in message
    assert len(proxy.seen) == 1  # not retried
    assert server.requests == []
    assert PASSWORD not in message + repr(err.value) + caplog.text


def test_a_proxy_that_refuses_the_host_is_reported_and_not_retried(
    tls_emu: Emulator, pems: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Proxy(refuse=403) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url("me", PASSWORD))
        with pytest.raises(TransportError) as err:
            pull(tls_emu, policy=Policy(retries=3, backoff=0), ca_bundle=str(pems["ca"]))
    message = str(err.value)
    assert f"the proxy http://me:****@127.0.0.1:{proxy.port} (from HTTPS_PROXY) refused to connect to {tls_emu.url}" in message
    assert "403 Forbidden" in message and "NO_PROXY" in message
    assert PASSWORD not in message
    assert len(proxy.seen) == 1


def test_a_proxy_that_is_down_is_named(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://me:{PASSWORD}@127.0.0.1:{dead_port()}")
    with pytest.raises(TransportError) as err:
        pull(emu)
    assert "through the proxy http://me:****@127.0.0.1:" in str(err.value)
    assert "(from HTTP_PROXY)" in str(err.value) and PASSWORD not in str(err.value)


def test_the_cognito_refresh_goes_through_the_proxy(emu: Emulator) -> None:
    emu.jwt_expired = True
    with Proxy() as proxy:
        cfg = Config(**emu.config_values("cognito_refresh"), proxy=proxy.url())
        points = list(csv_points(pages(build_request(cfg, "accel", "csv", QUERY, policy=cfg.policy))))
    assert len(points) == 100
    assert ("POST", emu.url + "/cognito") in [(s.method, s.target) for s in proxy.seen]


def test_requests_through_a_proxy_say_when_they_are_sent(
    tls_emu: Emulator, pems: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefetching waits for this signal: it must come through a CONNECT tunnel too."""
    sent = []
    with Proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        cfg = Config(**tls_emu.config_values(), ca_bundle=str(pems["ca"]))
        on_sent(lambda: sent.append(True))
        try:
            fetch(build_request(cfg, "accel", "csv", QUERY))
        finally:
            on_sent(None)
        prefetched = list(csv_points(pages(build_request(cfg, "accel", "csv", QUERY), prefetch=3)))
    assert sent == [True]
    assert len(prefetched) == 100 and len(proxy.seen) >= 1


# -- config: validation and secrets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "problem"),
    [
        (f"socks5://me:{PASSWORD}@127.0.0.1:1080", "is a SOCKS proxy (socks5://), which is not supported: "
         "use an http:// or https:// proxy"),
        (f"ftp://me:{PASSWORD}@p", "has the scheme 'ftp': only http:// and https:// proxies are supported"),
        ("http://", "has a host that is not a valid name or address (an IPv6 address needs both brackets: [::1])"),
        (f"http://me:{PASSWORD}@[::1", "has a host that is not a valid name or address (an IPv6 address needs both "
         "brackets: [::1])"),
        (f"me:{PASSWORD}@[::1", "has a host that is not a valid name or address (an IPv6 address needs both "
         "brackets: [::1])"),
        (f"http://me:{PASSWORD}@proxy:99999", "has a port that is not a number from 1 to 65535"),
        (f"http://me:{PASSWORD}@proxy:3128 ", "has spaces or control characters"),
    ],
)  # fmt: skip
def test_a_proxy_that_is_not_an_http_url_is_refused_saying_what_is_wrong_without_showing_it(
    proxy: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as err:
        Config(jwt="j", proxy=proxy)
    assert str(err.value) == f"proxy in keywords {problem} (such as http://user:password@proxy.example:3128)"


def test_a_config_proxy_without_a_scheme_is_taken_as_http_like_the_environments(emu: Emulator) -> None:
    with Proxy(auth=("me", PASSWORD)) as proxy:
        address = proxy.url().partition("://")[2]
        assert len(pull(emu, proxy=f"me:{PASSWORD}@{address}")) == 100
    expected = "Basic " + base64.b64encode(f"me:{PASSWORD}".encode()).decode()
    assert len(proxy.seen) == 5 and all(s.headers["proxy-authorization"] == expected for s in proxy.seen)


def test_a_socks_proxy_in_the_environment_is_refused_naming_the_variable(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", f"socks5://me:{PASSWORD}@127.0.0.1:1080")
    with pytest.raises(ConfigError, match=r"ALL_PROXY in the environment is a SOCKS proxy \(socks5://\)") as err:
        pull(emu)
    assert PASSWORD not in str(err.value)


def test_the_proxy_password_stays_out_of_reprs_and_listings() -> None:
    proxy = f"http://me:{PASSWORD}@proxy.example:3128"
    cfg = Config(jwt="j", proxy=proxy)
    request = build_request(cfg, "accel", "csv", QUERY)
    assert request.policy.proxy == proxy
    shown = [repr(cfg), repr(cfg.policy), repr(request), repr(pickle.loads(pickle.dumps(request)))]
    assert all(PASSWORD not in text for text in shown)
    assert describe({"proxy": proxy}) == "proxy: http://me:****@proxy.example:3128"


def test_configure_get_masks_the_proxy_password(tmp_path: Path) -> None:
    from commands import run

    assert run(tmp_path, "configure", "set", f"proxy=http://me:{PASSWORD}@proxy.example:3128").returncode == 0
    shown = run(tmp_path, "configure", "get", "proxy")
    assert shown.stdout == "proxy: http://me:****@proxy.example:3128\n"


# -- NO_PROXY matching, as a property -------------------------------------------------------------

labels = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@given(labels, labels, labels)
def test_no_proxy_domains_match_themselves_and_subdomains_only(sub: str, name: str, tld: str) -> None:
    domain = f"{name}.{tld}"
    assert bypasses_proxy(f"https://{domain}/v1", domain)
    assert bypasses_proxy(f"https://{sub}.{domain}:8443/v1", f".{domain}")
    assert not bypasses_proxy(f"https://{sub}{domain}/v1", domain)
    assert not bypasses_proxy(f"https://{domain}.evil/v1", domain)


@given(st.ip_addresses(v=4), st.integers(0, 32))
def test_no_proxy_networks_match_their_addresses(address, prefix: int) -> None:
    import ipaddress

    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    assert bypasses_proxy(f"http://{address}:8080/", f"{network}")
    assert bypasses_proxy(f"http://{address}:8080/", f"{address}:8080")
    assert not bypasses_proxy(f"http://{address}:8080/", f"{address}:8081")
