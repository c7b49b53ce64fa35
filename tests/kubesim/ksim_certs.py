"""Certificate and kubeconfig generation for kubesim (uses gnutls certtool)."""
import base64
import os
import subprocess

CA_TMPL = """cn = "kubesim-ca"
organization = "kubesim"
ca
cert_signing_key
crl_signing_key
expiration_days = 3650
"""

SERVER_TMPL = """cn = "kubesim"
organization = "kubesim"
dns_name = "localhost"
ip_address = "127.0.0.1"
tls_www_server
signing_key
expiration_days = 3650
"""

CLIENT_TMPL = """cn = "fakecloud-test"
organization = "system:masters"
tls_www_client
signing_key
expiration_days = 3650
"""

FILES = ("ca.key", "ca.crt", "server.key", "server.crt", "client.key", "client.crt")


def _run(args):
    subprocess.run(["certtool"] + args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=30)


def _key(path):
    _run(["--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1",
          "--no-text", "--outfile", path])


def ensure_certs(d):
    """Create CA, server and client certs in d unless all already exist (cache)."""
    p = {f: os.path.join(d, f) for f in FILES}
    if all(os.path.exists(x) and os.path.getsize(x) > 0 for x in p.values()):
        return p
    for name, text in (("ca.tmpl", CA_TMPL), ("server.tmpl", SERVER_TMPL),
                       ("client.tmpl", CLIENT_TMPL)):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    for k in ("ca.key", "server.key", "client.key"):
        _key(p[k])
    _run(["--generate-self-signed", "--load-privkey", p["ca.key"],
          "--template", os.path.join(d, "ca.tmpl"), "--no-text", "--outfile", p["ca.crt"]])
    for who in ("server", "client"):
        _run(["--generate-certificate", "--load-privkey", p[who + ".key"],
              "--load-ca-certificate", p["ca.crt"], "--load-ca-privkey", p["ca.key"],
              "--template", os.path.join(d, who + ".tmpl"), "--no-text",
              "--outfile", p[who + ".crt"]])
    for k in ("ca.key", "server.key", "client.key"):
        os.chmod(p[k], 0o600)
    return p


def _b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfigs(d, url, paths, token_file, plain_http=False):
    """Write kubeconfig-cert.yaml and kubeconfig-token.yaml; returns their paths."""
    cert_cfg = os.path.join(d, "kubeconfig-cert.yaml")
    tok_cfg = os.path.join(d, "kubeconfig-token.yaml")
    if plain_http:
        cluster_cert = cluster_tok = "    server: %s\n" % url
        user_cert = "    token: \"\"\n"
    else:
        cluster_cert = ("    server: %s\n    certificate-authority-data: %s\n"
                        % (url, _b64file(paths["ca.crt"])))
        cluster_tok = ("    server: %s\n    certificate-authority: %s\n"
                       % (url, paths["ca.crt"]))
        user_cert = ("    client-certificate-data: %s\n    client-key-data: %s\n"
                     % (_b64file(paths["client.crt"]), _b64file(paths["client.key"])))
    user_tok = "    tokenFile: %s\n" % token_file
    tmpl = ("apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n%s"
            "users:\n- name: kubesim-user\n  user:\n%s"
            "contexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n"
            "    user: kubesim-user\n    namespace: default\n"
            "current-context: kubesim\npreferences: {}\n")
    for path, cl, us in ((cert_cfg, cluster_cert, user_cert), (tok_cfg, cluster_tok, user_tok)):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(tmpl % (cl, us))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return cert_cfg, tok_cfg
