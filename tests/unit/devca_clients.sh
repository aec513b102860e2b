#!/bin/sh
# Real TLS clients against a server on 127.0.0.1:PORT that presents the development chain
# (started by test_devca): trusting only the development CA, each must accept the server
# for the Mimecast API host names and the loopback address, and refuse a name the
# certificate does not carry. Python runs with the strict flags that Python 3.13 sets by
# default. A client that is not installed is skipped.
# Usage: devca_clients.sh CA.pem CHAIN.pem PORT
ca=$1 chain=$2 port=$3
fail=0
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
hosts="localhost api.mimecast.com eu-api.mimecast.com usb-api.mimecast.com je-api.mimecast.com"
ok() { echo "ok: $*"; }
bad() { echo "FAILED: $*"; fail=1; }
have() { command -v "$1" >/dev/null 2>&1; }

if have openssl; then
	for h in $hosts; do
		if openssl verify -x509_strict -purpose sslserver -CAfile "$ca" -verify_hostname "$h" \
			"$chain" >/dev/null 2>&1; then ok "openssl verify $h"; else bad "openssl verify $h"; fi
	done
	for ip in 127.0.0.1 ::1; do
		if openssl verify -x509_strict -purpose sslserver -CAfile "$ca" -verify_ip "$ip" \
			"$chain" >/dev/null 2>&1; then ok "openssl verify $ip"; else bad "openssl verify $ip"; fi
	done
	if openssl verify -x509_strict -CAfile "$ca" -verify_hostname evil.example "$chain" \
		>/dev/null 2>&1; then bad "openssl verify accepted evil.example"; else ok "openssl verify refuses evil.example"; fi
	if openssl s_client -connect "127.0.0.1:$port" -servername api.mimecast.com \
		-verify_hostname api.mimecast.com -verify_return_error -x509_strict -CAfile "$ca" \
		</dev/null >"$work/s_client" 2>&1 && grep -q 'Verify return code: 0 (ok)' "$work/s_client"
	then ok "openssl s_client"; else bad "openssl s_client"; cat "$work/s_client"; fi
else
	echo "skip: openssl"
fi

if have curl; then
	for h in $hosts; do
		if curl -fsS --noproxy '*' --max-time 10 --cacert "$ca" --resolve "$h:$port:127.0.0.1" \
			"https://$h:$port/" >/dev/null; then ok "curl $h"; else bad "curl $h"; fi
	done
	if curl -fsS --noproxy '*' --max-time 10 --cacert "$ca" "https://127.0.0.1:$port/" >/dev/null
	then ok "curl 127.0.0.1"; else bad "curl 127.0.0.1"; fi
	if curl -fsS --noproxy '*' --max-time 10 --cacert "$ca" --resolve "evil.example:$port:127.0.0.1" \
		"https://evil.example:$port/" >/dev/null 2>&1
	then bad "curl accepted evil.example"; else ok "curl refuses evil.example"; fi
else
	echo "skip: curl"
fi

if [ -x /usr/bin/python3 ]; then
	cat >"$work/client.py" <<'EOF'
import socket, ssl, sys
ca, port, hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for host in hosts:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT | getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host.encode())
                print("ok" if s.recv(64).startswith(b"HTTP/1.1 200") else "bad", host)
    except (ssl.SSLError, OSError) as e:
        print("refused", host, e)
try:
    import requests
except ImportError:
    sys.exit(0)
session = requests.Session()
session.trust_env = False
r = session.get("https://127.0.0.1:%d/" % port, verify=ca, timeout=10)
print("ok" if r.status_code == 200 else "bad", "requests")
EOF
	timeout 60 /usr/bin/python3 "$work/client.py" "$ca" "$port" $hosts 127.0.0.1 evil.example \
		>"$work/py" 2>&1
	for h in $hosts 127.0.0.1; do
		if grep -qx "ok $h" "$work/py"; then ok "python $h"; else bad "python $h"; fi
	done
	if grep -q '^refused evil.example' "$work/py"; then ok "python refuses evil.example"
	else bad "python accepted evil.example"; fi
	if grep -q "requests" "$work/py"; then
		if grep -qx "ok requests" "$work/py"; then ok "python requests"; else bad "python requests"; fi
	fi
	[ $fail -eq 0 ] || cat "$work/py"
else
	echo "skip: python3"
fi

if have node; then
	cat >"$work/client.js" <<'EOF'
const https = require('https');
const [port, ...hosts] = process.argv.slice(2);
const lookup = (h, o, cb) => o && o.all ? cb(null, [{address: '127.0.0.1', family: 4}])
                                        : cb(null, '127.0.0.1', 4);
(async () => {
  for (const host of hosts) {
    await new Promise(done => {
      https.get({host, port: +port, lookup, agent: false, timeout: 10000}, res => {
        console.log(res.statusCode === 200 ? 'ok' : 'bad', host); res.resume(); res.on('end', done);
      }).on('timeout', function () { this.destroy(new Error('timeout')); })
        .on('error', e => { console.log('refused', host, e.code || e.message); done(); });
    });
  }
})();
EOF
	NODE_EXTRA_CA_CERTS=$ca timeout 60 node "$work/client.js" "$port" $hosts 127.0.0.1 evil.example \
		>"$work/node" 2>&1
	for h in $hosts 127.0.0.1; do
		if grep -qx "ok $h" "$work/node"; then ok "node $h"; else bad "node $h"; fi
	done
	if grep -q '^refused evil.example' "$work/node"; then ok "node refuses evil.example"
	else bad "node accepted evil.example"; fi
	[ $fail -eq 0 ] || cat "$work/node"
else
	echo "skip: node"
fi

if have java && have keytool; then
	keytool -importcert -noprompt -alias mcapi-dev -file "$ca" -keystore "$work/trust.p12" \
		-storetype PKCS12 -storepass changeit >/dev/null 2>&1 || bad "keytool import"
	cat >"$work/Client.java" <<'EOF'
import java.io.*;
import java.net.Socket;
import javax.net.ssl.*;

public class Client {
	public static void main(String[] args) throws Exception {
		int port = Integer.parseInt(args[0]);
		SSLSocketFactory f = (SSLSocketFactory) SSLSocketFactory.getDefault();
		for (int i = 1; i < args.length; i++) {
			String host = args[i];
			try (Socket raw = new Socket("127.0.0.1", port);
			     SSLSocket s = (SSLSocket) f.createSocket(raw, host, port, true)) {
				SSLParameters p = s.getSSLParameters();
				p.setEndpointIdentificationAlgorithm("HTTPS");
				s.setSSLParameters(p);
				s.startHandshake();
				s.getOutputStream().write(("GET / HTTP/1.1\r\nHost: " + host
					+ "\r\nConnection: close\r\n\r\n").getBytes("US-ASCII"));
				String line = new BufferedReader(new InputStreamReader(s.getInputStream())).readLine();
				System.out.println((line != null && line.startsWith("HTTP/1.1 200") ? "ok " : "bad ") + host);
			} catch (IOException e) {
				System.out.println("refused " + host + " " + e);
			}
		}
	}
}
EOF
	timeout 120 java -Djavax.net.ssl.trustStore="$work/trust.p12" -Djavax.net.ssl.trustStorePassword=changeit \
		-Djavax.net.ssl.trustStoreType=PKCS12 "$work/Client.java" "$port" $hosts 127.0.0.1 \
		evil.example >"$work/java" 2>&1
	for h in $hosts 127.0.0.1; do
		if grep -qx "ok $h" "$work/java"; then ok "java $h"; else bad "java $h"; fi
	done
	if grep -q '^refused evil.example' "$work/java"; then ok "java refuses evil.example"
	else bad "java accepted evil.example"; fi
	[ $fail -eq 0 ] || cat "$work/java"
else
	echo "skip: java"
fi

exit $fail
