package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// RepoAddress is where guests reach the lab's package source: a qemu
// guestfwd on the management network, so nothing listens on the host.
const RepoAddress = "10.0.2.100"

// WriteFlatRepo indexes the .deb files in dir as a flat apt repository
// ("deb [trusted=yes] http://host/ ./"): a Packages file and a Release file
// that lists its hash.
func WriteFlatRepo(ctx context.Context, dir string) error {
	debs, err := filepath.Glob(filepath.Join(dir, "*.deb"))
	if err != nil || len(debs) == 0 {
		return fmt.Errorf("no packages to serve in %s", dir)
	}
	sort.Strings(debs)
	var packages bytes.Buffer
	for _, deb := range debs {
		control, err := run(ctx, "", "dpkg-deb", "--field", deb)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(deb)
		if err != nil {
			return fmt.Errorf("read %s: %w", deb, err)
		}
		packages.WriteString(PackagesStanza(string(control), filepath.Base(deb), data))
	}
	if err := os.WriteFile(filepath.Join(dir, "Packages"), packages.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write Packages: %w", err)
	}
	release := ReleaseFile(packages.Bytes(), time.Now())
	return os.WriteFile(filepath.Join(dir, "Release"), []byte(release), 0o644)
}

// PackagesStanza is the Packages entry of one .deb: its control fields plus
// where it is and its size and hash.
func PackagesStanza(control, filename string, data []byte) string {
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%s\nFilename: ./%s\nSize: %d\nSHA256: %s\n\n",
		strings.TrimRight(control, "\n"), filename, len(data), hex.EncodeToString(sum[:]))
}

// ReleaseFile is the Release file of a flat repository whose only index is
// packages.
func ReleaseFile(packages []byte, now time.Time) string {
	sum := sha256.Sum256(packages)
	return fmt.Sprintf("Origin: cinder.multiattach lab\nLabel: lab\nSuite: lab\nCodename: lab\n"+
		"Date: %s\nArchitectures: amd64 all\nDescription: cluster packages served by the lab\n"+
		"SHA256:\n %s %d Packages\n",
		now.UTC().Format(time.RFC1123), hex.EncodeToString(sum[:]), len(packages))
}

// ServeRepoConn serves dir over HTTP on conn, one guest connection that
// qemu's guestfwd hands over, until the guest closes it or stays idle for
// idle.
func ServeRepoConn(conn net.Conn, dir string, idle time.Duration) error {
	l := &oneConnListener{conn: conn, done: make(chan struct{})}
	srv := &http.Server{
		Handler:     http.FileServer(http.Dir(dir)),
		IdleTimeout: idle,
		ReadTimeout: idle,
		ErrorLog:    log.New(io.Discard, "", 0),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				l.close()
			}
		},
	}
	err := srv.Serve(l)
	if errors.Is(err, errListenerDone) {
		return nil
	}
	return err
}

var errListenerDone = errors.New("connection served")

// oneConnListener hands out one connection, then blocks until it is closed.
type oneConnListener struct {
	conn net.Conn
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
	used bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if !l.used {
		l.used = true
		l.mu.Unlock()
		return l.conn, nil
	}
	l.mu.Unlock()
	<-l.done
	return nil, errListenerDone
}

func (l *oneConnListener) close()         { l.once.Do(func() { close(l.done) }) }
func (l *oneConnListener) Close() error   { l.close(); return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }
