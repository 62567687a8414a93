"""The bearer_token and proxy connection options on the real test bed, and the loopback fallback.

A forward proxy on loopback (tests/testbed/proxy.py ForwardProxy) logs what it relays: absolute-URI
requests to the plain-http registries, CONNECT tunnels to the https one. Bearer tokens come from
the bed's own token server; a scripted registry (tests/testbed/hostile.py) redirects a blob to
another host to show where the token does not go.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.request
from urllib.parse import urlencode, urlsplit

import pytest

from tests.integration.ansible_runner import run_module, run_playbook
from tests.integration.conftest import connection, ref
from tests.integration.test_hostile import BLOB, digest, registry as scripted_registry
from tests.testbed.hostile import HostileServer, Reply
from tests.testbed.proxy import ForwardProxy

PROXY_USER = "proxyuser"
PROXY_PASSWORD = "proxy-pw-" + secrets.token_hex(8)


def token_from_bed(testbed, repository: str) -> str:
    """A pull token for ``repository``, asked of the bed's token server as any client would."""
    query = urlencode({"service": testbed.token_server.service,
                       "scope": "repository:%s:pull" % repository})
    request = urllib.request.Request(testbed.token_server.realm + "?" + query)
    raw = ("%s:%s" % (testbed.username, testbed.password)).encode()
    request.add_header("Authorization", "Basic " + base64.b64encode(raw).decode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["token"]


def no_proxy_env(proxy_url: str | None = None) -> dict:
    """The environment of a run: NO_PROXY emptied, and HTTP(S)_PROXY set to ``proxy_url``."""
    env = {"NO_PROXY": "", "no_proxy": "", "HTTP_PROXY": "", "http_proxy": "", "HTTPS_PROXY": "",
           "https_proxy": "", "ALL_PROXY": "", "all_proxy": ""}
    if proxy_url:
        env.update({name: proxy_url for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy")})
    return env


# -- proxy -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def proxied(testbed, tmp_path_factory):
    """One playbook at -vvvv: tasks with the proxy option, while the environment names another."""
    option_proxy = ForwardProxy((PROXY_USER, PROXY_PASSWORD)).start()
    env_proxy = ForwardProxy().start()
    open_bed, basic, token = (testbed.registries[m] for m in ("open", "basic", "token"))
    proxy = option_proxy.url_with(PROXY_USER, PROXY_PASSWORD)
    wrong = option_proxy.url_with(PROXY_USER, "wrong-" + PROXY_PASSWORD)
    tasks = [
        {"drc.registry.registry_tags_info": dict(repository=ref(open_bed, "app/multi"), proxy=proxy),
         "register": "open_via_option"},
        {"drc.registry.registry_tags_info": dict(repository=ref(basic, "app/multi"), proxy=proxy,
                                                 **connection(testbed, basic)),
         "register": "tls_via_option"},
        {"ansible.builtin.set_fact": {"looked_up": "{{ lookup('drc.registry.registry_digest', '%s', "
                                                   "proxy=p) }}" % ref(open_bed, "app/oci:1.0")},
         "vars": {"p": proxy}, "register": "lookup_via_option"},
        {"drc.registry.registry_tags_info": dict(repository=ref(token, "app/multi"),
                                                 **connection(testbed, token)),
         "register": "via_environment"},
        {"drc.registry.registry_tags_info": dict(repository=ref(basic, "app/oci"), proxy=wrong,
                                                 retries=0, **connection(testbed, basic)),
         "ignore_errors": True, "register": "proxy_refused"},
        {"drc.registry.registry_tags_info": dict(repository=ref(open_bed, "app/oci"),
                                                 proxy="socks5://%s:%s@%s" % (PROXY_USER, PROXY_PASSWORD,
                                                                              option_proxy.host)),
         "ignore_errors": True, "register": "bad_scheme"},
        {"drc.registry.registry_tags_info": dict(repository=ref(open_bed, "app/oci"),
                                                 proxy="%s:%s@%s" % (PROXY_USER, PROXY_PASSWORD,
                                                                     option_proxy.host)),
         "ignore_errors": True, "register": "no_scheme"},
        {"drc.registry.registry_tags_info": dict(repository=ref(open_bed, "app/oci"),
                                                 proxy="http://%s/some/path" % option_proxy.host),
         "ignore_errors": True, "register": "with_path"},
    ]
    workdir = tmp_path_factory.mktemp("proxied")
    try:
        run = run_playbook(tasks, str(workdir), verbosity=4, env=no_proxy_env(env_proxy.url))
    finally:
        option_proxy.stop()
        env_proxy.stop()
    yield run, option_proxy, env_proxy


def test_plain_http_registry_through_the_proxy_option(testbed, proxied):
    run, option_proxy, dummy = proxied
    result = run.results["open_via_option"]
    assert sorted(result["tags"]) == sorted(testbed.skopeo_tags(testbed.registries["open"], "app/multi"))
    host = testbed.registries["open"].host
    relayed = [target for method, target in option_proxy.targets() if host in target]
    assert "http://%s/v2/app/multi/tags/list" % host in relayed, option_proxy.targets()


def test_https_registry_through_a_connect_tunnel(testbed, proxied):
    run, option_proxy, dummy = proxied
    assert sorted(run.results["tls_via_option"]["tags"]) == ["docker", "oci"], run.output
    host = testbed.registries["basic"].host
    tunnels = [entry for entry in option_proxy.log if entry["method"] == "CONNECT" and entry["target"] == host]
    assert tunnels and all(entry["allowed"] for entry in tunnels[:1])
    # inside the tunnel the proxy sees neither the path nor the registry's Authorization
    assert all("Authorization" not in entry["headers"] for entry in option_proxy.log)


def test_lookup_takes_the_proxy_option(testbed, proxied):
    run, option_proxy, dummy = proxied
    registry = testbed.registries["open"]
    expected = json.loads(testbed.skopeo(registry, "inspect", "app/oci:1.0"))["Digest"]
    assert run.results["lookup_via_option"]["ansible_facts"]["looked_up"] == expected
    assert "HEAD" in [method for method, target in option_proxy.targets()
                      if target.endswith("/v2/app/oci/manifests/1.0")]


def test_environment_proxy_still_used_and_the_option_wins_over_it(testbed, proxied):
    run, option_proxy, env_proxy = proxied
    assert sorted(run.results["via_environment"]["tags"]) == ["docker", "oci"], run.output
    token_host = testbed.registries["token"].host
    env_targets = [target for method, target in env_proxy.targets()]
    assert any(token_host in target for target in env_targets), env_targets
    # the realm of the token registry went through the environment's proxy too
    assert any(testbed.token_server.realm in target for target in env_targets), env_targets
    # every task with the option went to its proxy, none to the environment's
    for mode in ("open", "basic"):
        assert not any(testbed.registries[mode].host in target for target in env_targets), env_targets
    assert not any(token_host in target for method, target in option_proxy.targets())


def test_proxy_credentials_are_sent_to_the_proxy_and_never_shown(proxied):
    run, option_proxy, dummy = proxied
    expected = "Basic " + base64.b64encode(("%s:%s" % (PROXY_USER, PROXY_PASSWORD)).encode()).decode()
    assert any(entry["headers"].get("Proxy-Authorization") == expected for entry in option_proxy.log)
    refused = run.results["proxy_refused"]
    assert refused["failed"] is True
    assert "407" in refused["msg"] and "proxy http://%s" % option_proxy.host in refused["msg"], refused["msg"]
    for text in (run.output, json.dumps(run.results)):
        assert PROXY_PASSWORD not in text
        assert base64.b64encode(("%s:%s" % (PROXY_USER, PROXY_PASSWORD)).encode()).decode() not in text
        assert "Traceback" not in text


@pytest.mark.parametrize("task, fragment", [
    ("bad_scheme", "proxy must be an http:// or https:// URL"),
    ("no_scheme", "the value has no http:// or https://"),
    ("with_path", "without a path"),
])
def test_proxy_url_is_checked(proxied, task, fragment):
    run, dummy, dummy2 = proxied
    result = run.results[task]
    assert result["failed"] is True and fragment in result["msg"], result
    assert PROXY_PASSWORD not in result["msg"]


# -- bearer_token ----------------------------------------------------------------------------------
def test_bearer_token_reaches_the_registry_and_no_token_service(testbed, tmp_path):
    registry = testbed.registries["token"]
    token = token_from_bed(testbed, "app/multi")
    testbed.token_server.reset_counter()
    tasks = [
        {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/multi"), bearer_token=token),
         "register": "granted"},
        {"ansible.builtin.set_fact": {"looked_up": "{{ lookup('drc.registry.registry_digest', '%s', "
                                                   "bearer_token=t) }}" % ref(registry, "app/multi:oci")},
         "vars": {"t": token}, "register": "lookup"},
        # the token grants pull on app/multi only: app/oci is refused, and no other token is asked for
        {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/oci"), bearer_token=token),
         "ignore_errors": True, "register": "outside_scope"},
        {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/multi"), bearer_token=token,
                                                 username=testbed.username, password=testbed.password),
         "ignore_errors": True, "register": "both"},
        {"ansible.builtin.set_fact": {"two": "{{ query('drc.registry.registry_digest', '%s', '%s', "
                                             "bearer_token=t) }}" % (ref(registry, "app/multi:oci"),
                                                                     ref(testbed.registries["open"], "app/oci:1.0"))},
         "vars": {"t": token}, "ignore_errors": True, "register": "two_registries"},
    ]
    run = run_playbook(tasks, str(tmp_path), verbosity=4)
    token_requests = list(testbed.token_server.log)  # before skopeo asks for its own below
    assert sorted(run.results["granted"]["tags"]) == sorted(testbed.skopeo_tags(registry, "app/multi"))
    expected = "sha256:" + hashlib.sha256(testbed.skopeo_raw_manifest(registry, "app/multi:oci")).hexdigest()
    assert run.results["lookup"]["ansible_facts"]["looked_up"] == expected
    refused = run.results["outside_scope"]
    assert refused["failed"] is True and refused["http_status"] == 401
    assert "refused the bearer_token" in refused["msg"], refused["msg"]
    assert "not both" in run.results["both"]["msg"]
    assert "bearer_token is for one registry" in run.results["two_registries"]["msg"]
    assert testbed.registries["open"].host in run.results["two_registries"]["msg"]
    assert token_requests == []  # the token service was never asked
    assert token not in run.output and token[:20] not in json.dumps(run.results)


@pytest.mark.parametrize("form", ["src", "images"])
def test_a_copy_never_takes_the_bearer_token_to_its_other_registry(testbed, form):
    """A copy from the token registry to the open one, with a bearer token for the first: refused,
    and the open registry (which would take any Authorization) gets no request at all."""
    source, dest = testbed.registries["token"], testbed.registries["open"]
    token = token_from_bed(testbed, "app/multi")
    pair = {"src": ref(source, "app/multi:oci"), "dest": ref(dest, "bearer/%s:oci" % form)}
    args = dict(pair) if form == "src" else {"images": [pair]}
    mark = dest.access_log_mark()
    run = run_module("drc.registry.registry_copy", dict(args, bearer_token=token))
    assert run.rc != 0, run.output
    assert "bearer_token is for one registry" in run.output, run.output
    assert dest.requests_since(mark) == []
    assert token not in run.output


def test_bearer_token_is_not_sent_to_a_redirect_target(tmp_path):
    """A scripted registry asks for a Bearer token and redirects a blob to another host: the token
    goes to the registry alone, and its realm is never asked."""
    token = "given-bearer-" + secrets.token_hex(8)
    with HostileServer(lambda request: Reply(200, {"Content-Type": "application/octet-stream"}, BLOB)) as cdn, \
            HostileServer(lambda request: Reply(200, {}, b'{"token": "from-the-realm"}')) as realm:
        challenge = {"WWW-Authenticate": 'Bearer realm="http://%s/token",service="s"' % realm.host}

        def blob(request):
            if request.headers.get("Authorization") != "Bearer " + token:
                return Reply(401, challenge)
            return Reply(307, {"Location": "http://localhost:%d/blob" % cdn.port})

        routes = {("GET", "/v2/"): Reply(401, challenge), ("GET", "/v2/app/blobs/" + digest(BLOB)): blob}
        with scripted_registry(routes) as server:
            run = run_module("drc.registry.registry_blob_fetch", dict(
                repository="http://%s/app" % server.host, digest=digest(BLOB),
                dest=str(tmp_path / "b"), bearer_token=token), verbosity=4)
            registry_auth = [r.headers.get("Authorization") for r in server.requests if "/blobs/" in r.path]
        cdn_auth = [r.headers.get("Authorization") for r in cdn.requests]
        realm_requests = list(realm.requests)
    assert run.rc == 0, run.output
    assert (tmp_path / "b").read_bytes() == BLOB
    assert registry_auth == ["Bearer " + token]
    assert cdn_auth == [None]
    assert realm_requests == []
    assert token not in run.output


def test_bearer_token_through_the_proxy_reaches_only_its_registry(testbed, tmp_path):
    """bearer_token with the proxy option, at -vvvv: the proxy logs every request it relays, with
    its headers (the hosts are plain http; the loopback fallback's https try is a CONNECT whose
    handshake fails). The token travels only as the Authorization of requests to the registry it
    was given for; a second token, for a scripted registry, never reaches the host its blob
    redirect names (another port of the same address). Neither goes to the proxy as
    Proxy-Authorization or to a token service, and neither is in the output or the results."""
    registry = testbed.registries["token"]
    token = token_from_bed(testbed, "app/multi")
    redirected = "given-bearer-" + secrets.token_hex(8)  # for the scripted registry only
    testbed.token_server.reset_counter()
    with ForwardProxy((PROXY_USER, PROXY_PASSWORD)) as proxy, \
            HostileServer(lambda request: Reply(200, {"Content-Type": "application/octet-stream"}, BLOB)) as cdn:

        def blob(request):
            if request.headers.get("Authorization") != "Bearer " + redirected:
                return Reply(401, {"WWW-Authenticate": 'Bearer realm="http://%s/token"' % cdn.host})
            return Reply(307, {"Location": "http://%s/blob" % cdn.host})

        with scripted_registry({("GET", "/v2/app/blobs/" + digest(BLOB)): blob}) as server:
            tasks = [
                {"drc.registry.registry_tags_info": dict(repository=ref(registry, "app/multi"),
                                                         bearer_token="{{ t }}", proxy="{{ p }}"),
                 "register": "tags"},
                {"ansible.builtin.set_fact": {"looked_up": "{{ lookup('drc.registry.registry_digest', '%s', "
                                                           "bearer_token=t, proxy=p) }}" % ref(registry, "app/multi:oci")},
                 "register": "lookup"},
                {"drc.registry.registry_copy": dict(src=ref(registry, "app/multi:oci"),
                                                    dest="oci:%s:1" % (tmp_path / "layout"),
                                                    bearer_token="{{ t }}", proxy="{{ p }}"),
                 "register": "copied"},
                {"drc.registry.registry_blob_fetch": dict(repository="http://%s/app" % server.host,
                                                          digest=digest(BLOB), dest=str(tmp_path / "blob"),
                                                          bearer_token="{{ r }}", proxy="{{ p }}"),
                 "register": "fetched"},
            ]
            for task in tasks:
                task["ignore_errors"] = True
            play_vars = {"t": token, "r": redirected, "p": proxy.url_with(PROXY_USER, PROXY_PASSWORD)}
            run = run_playbook(tasks, str(tmp_path), play_vars=play_vars, verbosity=4, env=no_proxy_env())
        log = list(proxy.log)
        cdn_auth = [r.headers.get("Authorization") for r in cdn.requests]
    token_requests = list(testbed.token_server.log)
    for name in ("tags", "lookup", "copied", "fetched"):
        assert run.results[name].get("failed") is not True, (name, run.results[name])
    assert (tmp_path / "blob").read_bytes() == BLOB
    expected_digest = "sha256:" + hashlib.sha256(testbed.skopeo_raw_manifest(registry, "app/multi:oci")).hexdigest()
    assert run.results["lookup"]["ansible_facts"]["looked_up"] == expected_digest
    assert run.results["copied"]["digest"] == expected_digest

    proxy_auth = "Basic " + base64.b64encode(("%s:%s" % (PROXY_USER, PROXY_PASSWORD)).encode()).decode()
    carrying = {}  # host -> [(header, value)] of every relayed request that carried a token
    tunnels, relayed = [], []
    for entry in log:
        assert entry["allowed"] and entry["headers"].get("Proxy-Authorization") == proxy_auth, entry
        if entry["method"] == "CONNECT":
            tunnels.append(entry["target"])
        else:
            relayed.append(urlsplit(entry["target"]))
        for name, value in entry["headers"].items():
            if token in value or redirected in value:
                carrying.setdefault(urlsplit(entry["target"]).netloc, []).append((name, value))
    assert set(tunnels) == {registry.host}, tunnels  # the https try of each task on it, no header in
    assert set(carrying) == {registry.host, server.host}, carrying
    assert set(carrying[registry.host]) == {("Authorization", "Bearer " + token)}
    assert set(carrying[server.host]) == {("Authorization", "Bearer " + redirected)}
    # every task went through the proxy: the copy's blobs, the scripted registry and its redirect
    assert any(p.netloc == registry.host and "/blobs/" in p.path for p in relayed), relayed
    others = [(p.netloc, p.path) for p in relayed if p.netloc != registry.host]
    assert others[-2:] == [(server.host, "/v2/app/blobs/" + digest(BLOB)), (cdn.host, "/blob")], others
    assert set(host for host, path in others) == {server.host, cdn.host}, others
    assert cdn_auth == [None] and token_requests == []  # no token to the CDN, no token service asked
    for text in (run.output, json.dumps(run.results)):
        for secret in (token, token[-24:], redirected, PROXY_PASSWORD):
            assert secret not in text, "secret %r shown" % secret[:12]


# -- the loopback fallback -------------------------------------------------------------------------
def test_a_loopback_registry_that_is_down_names_both_attempts():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        run = run_module("drc.registry.registry_tags_info",
                         dict(repository="127.0.0.1:%d/app" % port, retries=0))
    assert run.rc != 0
    message = run.result["msg"]
    assert "GET https://127.0.0.1:%d/v2/ failed" % port in message, message
    assert "GET http://127.0.0.1:%d/v2/ failed" % port in message, message
    assert message.index("https://") < message.index("http://127"), message


def test_the_legacy_v1_api_goes_through_the_proxy_option_too():
    """registry_search_info speaks v1 only, on a connection of its own: it takes the proxy too."""
    from tests.testbed.v1server import V1Pair

    with V1Pair() as bed, ForwardProxy((PROXY_USER, PROXY_PASSWORD)) as proxy:
        run = run_module("drc.registry.registry_search_info",
                         {"query": "tool", "registry": bed.index.url, "limit": 3,
                          "proxy": proxy.url_with(PROXY_USER, PROXY_PASSWORD)},
                         env=no_proxy_env())
        relayed = proxy.targets()
    assert run.rc == 0, run.output
    assert [hit["name"] for hit in run.result["results"]] == ["tools/tool-00", "tools/tool-01", "tools/tool-02"]
    assert ("GET", "%s/v1/search?q=tool&n=3&page=1" % bed.index.url) in relayed, relayed
    assert PROXY_PASSWORD not in run.output
