// Command fakeopenstack serves the in-process fake OpenStack
// (internal/fakeopenstack) on a loopback address for integration tests and
// developers: it writes a clouds.yaml that points at it (written once it
// listens, so the file's appearance means "ready") and a pid file, and runs
// until SIGTERM or SIGINT.
//
//	bin/fakeopenstack -clouds-yaml /tmp/x/clouds.yaml -pid-file /tmp/x/fake.pid \
//	    -servers node1=192.168.100.11,node2=192.168.100.12 -attach-latency 200ms
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeopenstack:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	cloudsYAML := flag.String("clouds-yaml", "", "write a clouds.yaml for the served cloud here (required)")
	cloudName := flag.String("cloud", "fake", "name of the clouds.yaml entry")
	pidFile := flag.String("pid-file", "", "write the process ID here")
	servers := flag.String("servers", "", "comma-separated servers: NAME or NAME=IPv4 (address on -network); a name may repeat")
	network := flag.String("network", "private", "network name of the servers' addresses")
	attach := flag.Duration("attach-latency", 200*time.Millisecond, "time from reserve to in-use")
	detach := flag.Duration("detach-latency", 100*time.Millisecond, "time a detach takes")
	create := flag.Duration("create-latency", 100*time.Millisecond, "time a volume stays creating")
	remove := flag.Duration("delete-latency", 100*time.Millisecond, "time a volume stays deleting")
	verbose := flag.Bool("log", false, "log every request to stderr")
	flag.Parse()
	if *cloudsYAML == "" {
		return errors.New("-clouds-yaml is required")
	}

	cfg := fakeopenstack.Config{AttachLatency: *attach, DetachLatency: *detach, CreateLatency: *create, DeleteLatency: *remove}
	for _, item := range strings.Split(*servers, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, addr, hasAddr := strings.Cut(item, "=")
		s := fakeopenstack.Server{Name: name}
		if hasAddr {
			if net.ParseIP(addr) == nil {
				return fmt.Errorf("server %s: %q is not an IP address", name, addr)
			}
			s.Addresses = map[string][]string{*network: {addr}}
		}
		cfg.Servers = append(cfg.Servers, s)
	}
	if *verbose {
		logger := log.New(os.Stderr, "fakeopenstack: ", log.Ltime|log.Lmicroseconds)
		cfg.Log = func(line string) { logger.Print(line) }
	}

	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen %s: %w", *listen, err)
	}
	// Only loopback: this is a test double with well-known credentials.
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %s: only loopback addresses are allowed", *listen)
	}
	cloud, err := fakeopenstack.New(cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cloud.Start(l)
	defer cloud.Close()

	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("write pid file: %w", err)
		}
		defer os.Remove(*pidFile)
	}
	if err := cloud.WriteCloudsYAML(*cloudsYAML, *cloudName, ""); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fakeopenstack: serving %s (%d servers), clouds.yaml %s, cloud %s\n",
		fakeopenstack.AuthURL(cloud.URL()), len(cfg.Servers), *cloudsYAML, *cloudName)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
	return nil
}
