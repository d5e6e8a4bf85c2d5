package download

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testServer runs a download server on 127.0.0.1:0 with files in a
// folder inside a parent that also holds a "secret" the server must
// never give out.
type testServer struct {
	srv    *Server
	signer *Signer
	addr   string
	dir    string
	client *http.Client
	now    atomic.Pointer[time.Time]
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	parent := t.TempDir()
	ts := &testServer{dir: filepath.Join(parent, "rec")}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ts.now.Store(&start)
	clock := func() time.Time { return *ts.now.Load() }
	os.WriteFile(filepath.Join(parent, "secret.mp3"), []byte("secret"), 0o644)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ts.signer, err = NewSigner(testKey, "https://"+ts.addr+DefaultPrefix, time.Hour, WithSignerClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir, cfg.Signer, cfg.Now = ts.dir, ts.signer, clock
	ts.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ts.dir, "210701165649_698-1-1.mp3"), []byte("mp3 one"), 0o644)
	os.Symlink(filepath.Join(parent, "secret.mp3"), filepath.Join(ts.dir, "link.mp3"))

	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	ts.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.srv.CertPool()}}}
	t.Cleanup(ts.client.CloseIdleConnections)
	return ts
}

func (ts *testServer) get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := ts.client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// raw sends the request line exactly as given, so no client library can
// clean the path first.
func (ts *testServer) raw(t *testing.T, target string) int {
	t.Helper()
	c, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.srv.CertPool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, ts.addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (ts *testServer) advance(d time.Duration) {
	n := ts.now.Load().Add(d)
	ts.now.Store(&n)
}

func TestDownloadSignedLink(t *testing.T) {
	ts := startServer(t, Config{})
	link := ts.signer.URL("210701165649_698-1-1.mp3")
	if !strings.HasPrefix(link, "https://"+ts.addr+"/webapi/recording/210701165649_698-1-1.mp3?token=") {
		t.Fatalf("link %s", link)
	}
	code, body := ts.get(t, link)
	if code != 200 || body != "mp3 one" {
		t.Fatalf("GET %s = %d %q", link, code, body)
	}
	resp, err := ts.client.Head(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/mpeg" || resp.ContentLength != 7 {
		t.Fatalf("HEAD = %d %v %d", resp.StatusCode, resp.Header, resp.ContentLength)
	}
	resp, err = ts.client.Post(link, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST = %d", resp.StatusCode)
	}
}

func TestDownloadRefusesBadTokens(t *testing.T) {
	ts := startServer(t, Config{})
	name := "210701165649_698-1-1.mp3"
	link := ts.signer.URL(name)
	u, _ := url.Parse(link)
	tok := u.Query().Get(TokenParam)
	exp, sig, _ := strings.Cut(tok, ".")
	flip := []byte(sig)
	flip[3] ^= 1
	if flip[3] == sig[3] {
		t.Fatal("flip did nothing")
	}
	other, _ := NewSigner([]byte("another key, 32 bytes long......"), "https://"+ts.addr+DefaultPrefix, time.Hour)
	base := "https://" + ts.addr + DefaultPrefix + name
	for what, u := range map[string]string{
		"no token":           base,
		"empty token":        base + "?token=",
		"garbage":            base + "?token=abc",
		"tampered mac":       base + "?token=" + exp + "." + string(flip),
		"later expiry":       base + "?token=" + fmt.Sprint(ts.now.Load().Add(48*time.Hour).Unix()) + "." + sig,
		"other file's token": base + "?token=" + ts.signer.Token("210701165649_698-1-2.mp3", ts.now.Load().Add(time.Hour)),
		"wrong key":          other.URL(name),
	} {
		if code, _ := ts.get(t, u); code != http.StatusForbidden {
			t.Errorf("%s: %s = %d, want 403", what, u, code)
		}
	}
	// Still fine just before the expiry, refused at it.
	ts.advance(time.Hour - time.Second)
	if code, _ := ts.get(t, link); code != 200 {
		t.Fatalf("before expiry: %d", code)
	}
	ts.advance(time.Second)
	if code, _ := ts.get(t, link); code != http.StatusForbidden {
		t.Fatalf("expired: %d, want 403", code)
	}
}

func TestDownloadUnknownFile(t *testing.T) {
	ts := startServer(t, Config{})
	if code, _ := ts.get(t, ts.signer.URL("210701165649_698-1-9.mp3")); code != 404 {
		t.Fatalf("unknown file with a good token: %d, want 404", code)
	}
	// Without a valid token the answer does not tell whether it exists.
	if code, _ := ts.get(t, "https://"+ts.addr+DefaultPrefix+"210701165649_698-1-9.mp3?token=1.x"); code != 403 {
		t.Fatalf("unknown file, bad token: %d, want 403", code)
	}
}

// Traversal attempts get 404 even when the token was made for exactly
// the traversing name: the name itself is refused, and the folder is
// opened as an os.Root so even a symlink cannot lead out of it.
func TestDownloadNoPathTraversal(t *testing.T) {
	ts := startServer(t, Config{})
	tok := func(name string) string {
		return "?token=" + url.QueryEscape(ts.signer.Token(name, ts.now.Load().Add(time.Hour)))
	}
	for _, target := range []string{
		DefaultPrefix + "../secret.mp3" + tok("../secret.mp3"),
		DefaultPrefix + "..%2fsecret.mp3" + tok("../secret.mp3"),
		DefaultPrefix + "..%2Fsecret.mp3" + tok("../secret.mp3"),
		DefaultPrefix + "%2e%2e%2fsecret.mp3" + tok("../secret.mp3"),
		DefaultPrefix + "%2e%2e/secret.mp3" + tok("../secret.mp3"),
		DefaultPrefix + "%252e%252e%252fsecret.mp3" + tok("%2e%2e%2fsecret.mp3"),
		DefaultPrefix + "..%5csecret.mp3" + tok("..\\secret.mp3"),
		DefaultPrefix + "..\\secret.mp3" + tok("..\\secret.mp3"),
		DefaultPrefix + "/etc/passwd" + tok("/etc/passwd"),
		DefaultPrefix + "%2fetc%2fpasswd" + tok("/etc/passwd"),
		DefaultPrefix + "sub/../210701165649_698-1-1.mp3" + tok("sub/../210701165649_698-1-1.mp3"),
		DefaultPrefix + "210701165649_698-1-1.mp3%00.mp3" + tok("210701165649_698-1-1.mp3\x00.mp3"),
		DefaultPrefix + ".." + tok(".."),
		"/etc/passwd" + tok("/etc/passwd"),
		"/webapi/secret.mp3" + tok("secret.mp3"),
		// A symlink inside the folder pointing outside it.
		DefaultPrefix + "link.mp3" + tok("link.mp3"),
	} {
		if code := ts.raw(t, target); code != 404 && code != 400 {
			t.Errorf("GET %s = %d, want 404", target, code)
		}
	}
	// The control: the same raw client fetches a real file.
	if code := ts.raw(t, DefaultPrefix+"210701165649_698-1-1.mp3"+tok("210701165649_698-1-1.mp3")); code != 200 {
		t.Fatalf("control = %d", code)
	}
}

func TestDownloadConfiguredCertificate(t *testing.T) {
	dir := t.TempDir()
	c, err := SelfSigned([]string{"pbx.example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	der, _ := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	os.WriteFile(certFile, pemCert(c), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)

	ts := startServer(t, Config{CertFile: certFile, KeyFile: keyFile})
	if string(ts.srv.CertificatePEM()) != string(pemCert(c)) {
		t.Fatal("server does not use the configured certificate")
	}
	if code, _ := ts.get(t, ts.signer.URL("210701165649_698-1-1.mp3")); code != 200 {
		t.Fatalf("GET = %d", code)
	}
	s, _ := NewSigner(testKey, "https://x/", 0)
	if _, err := New(Config{Dir: t.TempDir(), Signer: s, CertFile: certFile}); err == nil {
		t.Fatal("cert without key accepted")
	}
	if _, err := New(Config{Dir: t.TempDir(), Signer: s, CertFile: keyFile, KeyFile: certFile}); err == nil {
		t.Fatal("swapped cert and key accepted")
	}
}

// An untrusting client refuses the self-signed certificate: the server
// really speaks TLS with its own certificate.
func TestDownloadSelfSignedIsTLS(t *testing.T) {
	ts := startServer(t, Config{Hosts: []string{"pbx.example.com"}})
	c := &http.Client{}
	defer c.CloseIdleConnections()
	_, err := c.Get(ts.signer.URL("210701165649_698-1-1.mp3"))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("err = %v, want unknown authority", err)
	}
	block, _ := pem.Decode(ts.srv.CertificatePEM())
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("pbx.example.com"); err != nil {
		t.Fatal(err)
	}
}

func TestSigner(t *testing.T) {
	if _, err := NewSigner([]byte("short"), "https://h/", time.Hour); !errors.Is(err, ErrKey) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := NewSigner(nil, "not a url", time.Hour); err == nil {
		t.Fatal("bad base accepted")
	}
	s, err := NewSigner(nil, "https://h:5001/webapi/recording", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprint(s), "key") || s.Prefix() != "/webapi/recording/" {
		t.Fatalf("String %v prefix %s", s, s.Prefix())
	}
	now := time.Now()
	tok := s.Token("a.mp3", now.Add(time.Minute))
	if err := s.Verify("a.mp3", tok, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify("b.mp3", tok, now); !errors.Is(err, ErrBadToken) {
		t.Fatalf("other name: %v", err)
	}
	if err := s.Verify("a.mp3", tok, now.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	for _, bad := range []string{"", "..", ".mp3", "a/b.mp3", "a b.mp3", "a.wav", "../a.mp3", "a\\b.mp3", "é.mp3"} {
		if ValidName(bad) == nil {
			t.Errorf("ValidName(%q) accepted", bad)
		}
	}
}
