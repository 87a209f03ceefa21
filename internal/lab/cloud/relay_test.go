package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
)

// socketPair is a connected pair of stream sockets, as qemu's guestfwd
// gives its command one end (stdin and stdout) and keeps the other for
// the guest.
func socketPair(t *testing.T) (guest, relay net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), fmt.Sprint("socket ", i))
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

// listen serves each connection on 127.0.0.1 with serve.
func listen(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

// relay runs Relay on the relay end of a socket pair and returns the
// guest's end and Relay's result.
func relay(t *testing.T, addr string) (net.Conn, <-chan error) {
	t.Helper()
	guest, end := socketPair(t)
	done := make(chan error, 1)
	go func() { done <- Relay(end, addr) }()
	return guest, done
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not end")
		return nil
	}
}

// TestRelayEcho: bytes go both ways; the guest's half-close reaches the
// service, whose answer still comes back, and the relay ends when the
// service closes.
func TestRelayEcho(t *testing.T) {
	addr := listen(t, func(c net.Conn) {
		io.Copy(c, c) // echo until the guest's end of data
		c.Write([]byte("bye"))
	})
	guest, done := relay(t, addr)
	guest.SetDeadline(time.Now().Add(5 * time.Second))
	payload := bytes.Repeat([]byte("multiattach "), 100000) // more than any buffer
	go func() {
		guest.Write(payload)
		guest.(*net.UnixConn).CloseWrite()
	}()
	got, err := io.ReadAll(guest)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(payload, "bye"...); !bytes.Equal(got, want) {
		t.Errorf("the guest read %d bytes, want %d (the echo, then bye)", len(got), len(want))
	}
	if err := result(t, done); err != nil {
		t.Errorf("Relay = %v", err)
	}
}

// TestRelayServiceCloses: a service that closes first ends the relay, and
// the guest reads what it sent, then the end.
func TestRelayServiceCloses(t *testing.T) {
	addr := listen(t, func(c net.Conn) { c.Write([]byte("no")) })
	guest, done := relay(t, addr)
	guest.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(guest)
	if err != nil || string(got) != "no" {
		t.Errorf("the guest read %q, %v", got, err)
	}
	if err := result(t, done); err != nil {
		t.Errorf("Relay = %v", err)
	}
}

// TestRelayNoService: nothing listens (the lab's OpenStack is not
// served): the guest's connection is closed.
func TestRelayNoService(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	guest, done := relay(t, addr)
	if err := result(t, done); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Relay = %v, want connection refused", err)
	}
	guest.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(guest); err != nil || len(got) != 0 {
		t.Errorf("the guest read %q, %v; want the end", got, err)
	}
}

// TestRelayAddress: the relay connects to 127.0.0.1 and nowhere else.
func TestRelayAddress(t *testing.T) {
	if err := CheckRelayAddress("127.0.0.1:22099"); err != nil {
		t.Error(err)
	}
	for _, addr := range []string{"", "127.0.0.1", "10.0.2.2:80", "192.168.1.1:5000", "localhost:22099", "[::1]:22099",
		"0.0.0.0:22099", "127.0.0.2:22099", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http"} {
		err := CheckRelayAddress(addr)
		if err == nil {
			t.Errorf("%q accepted", addr)
			continue
		}
		guest, done := relay(t, addr)
		if rerr := result(t, done); rerr == nil || rerr.Error() != err.Error() {
			t.Errorf("Relay to %q = %v, want %v", addr, rerr, err)
		}
		guest.SetDeadline(time.Now().Add(5 * time.Second))
		if got, _ := io.ReadAll(guest); len(got) != 0 {
			t.Errorf("the guest read %q from %q", got, addr)
		}
	}
}

// TestGuestCatalog: a guest that asks the lab's Keystone at GuestURL,
// through a relay to the cloud on 127.0.0.1, gets a catalog whose URLs it
// can reach: Keystone builds them from the request's Host.
func TestGuestCatalog(t *testing.T) {
	c, err := fakeopenstack.New(fakeopenstack.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.Start(ln)
	t.Cleanup(func() { c.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	base := GuestURL(port)
	if base != fmt.Sprintf("http://10.0.2.100:%d", port) {
		t.Fatalf("GuestURL = %s", base)
	}
	relays := 0
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The guest's connection to 10.0.2.100:PORT is qemu's to the relay.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != strings.TrimPrefix(base, "http://") {
				return nil, fmt.Errorf("the guest dialled %s", addr)
			}
			relays++
			guest, _ := relay(t, ln.Addr().String())
			return guest, nil
		},
	}}
	body := `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
		"domain": {"name": "Default"}, "password": "secret"}}}, "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}`
	resp, err := client.Post(fakeopenstack.AuthURL(base)+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var token struct {
		Token struct {
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					URL string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&token); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("token: %s, %v", resp.Status, err)
	}
	types := map[string]bool{}
	for _, s := range token.Token.Catalog {
		types[s.Type] = true
		for _, e := range s.Endpoints {
			if !strings.HasPrefix(e.URL, base+"/") {
				t.Errorf("%s endpoint %s is not under %s", s.Type, e.URL, base)
			}
		}
	}
	if !types["compute"] || !types["block-storage"] || !types["identity"] {
		t.Errorf("catalog types %v", types)
	}
	if relays == 0 {
		t.Error("no connection went through a relay")
	}
}

// TestCloudsYAML: the controller's entry and the nodes' entry, the same
// credentials at two addresses of the same cloud.
func TestCloudsYAML(t *testing.T) {
	c, err := fakeopenstack.New(fakeopenstack.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := cloudsYAML(c, 22099)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Clouds map[string]struct {
			Auth       map[string]string `yaml:"auth"`
			Region     string            `yaml:"region_name"`
			Interface  string            `yaml:"interface"`
			APIVersion int               `yaml:"identity_api_version"`
		} `yaml:"clouds"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(doc.Clouds) != 2 {
		t.Fatalf("entries: %s", b)
	}
	controller, guest := doc.Clouds["lab"], doc.Clouds["lab-guest"]
	if controller.Auth["auth_url"] != "http://127.0.0.1:22099/identity/v3" {
		t.Errorf("lab auth_url = %s", controller.Auth["auth_url"])
	}
	if guest.Auth["auth_url"] != "http://10.0.2.100:22099/identity/v3" {
		t.Errorf("lab-guest auth_url = %s", guest.Auth["auth_url"])
	}
	for k, v := range controller.Auth {
		if k != "auth_url" && guest.Auth[k] != v {
			t.Errorf("lab-guest %s = %q, lab has %q", k, guest.Auth[k], v)
		}
	}
	if controller.Auth["password"] != "secret" || controller.Auth["username"] != "admin" || len(guest.Auth) != len(controller.Auth) ||
		guest.Region != controller.Region || guest.Region == "" || guest.APIVersion != 3 || guest.Interface != "public" {
		t.Errorf("entries differ beyond auth_url:\n%s", b)
	}
}
