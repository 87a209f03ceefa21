package fence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
	"github.com/cinder-multiattach/cinder.multiattach/internal/openstack"
)

// Exit statuses, as fence-agents use them.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitOff    = 2 // status: the server is off
)

// pollInterval is how often the state is read while waiting.
const pollInterval = 2 * time.Second

// Env is the process around the agent.
type Env struct {
	Args []string
	// Stdin is read only when Args is empty, as fence-agents do; a
	// terminal there gets a hint first.
	Stdin         io.Reader
	StdinTerminal bool
	Stdout        io.Writer
	Stderr        io.Writer
	// Syslog, when set, gets every log line too: dlm_controld sends the
	// agent's stdout and stderr to /dev/null.
	Syslog Syslog

	interval time.Duration // pollInterval unless a test sets it
}

// Syslog is the part of *syslog.Writer the agent uses.
type Syslog interface {
	Info(m string) error
	Err(m string) error
}

// AgentName is the agent's command name: the binary that holds it (cmd/openstack)
// is the agent when installed under this name.
const AgentName = "fence_nova"

// Main runs the agent as a command and exits with its status.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := Env{Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		env.StdinTerminal = true
	}
	// Without a syslog socket the lines still go to stderr.
	w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, AgentName)
	if err == nil {
		env.Syslog = w
	}
	code := Run(ctx, env)
	stop()
	if w != nil {
		_ = w.Close()
	}
	os.Exit(code)
}

// Run is the agent: read the options, check them, connect, act, and
// return the exit status.
func Run(ctx context.Context, env Env) int {
	log := &logger{stderr: env.Stderr, syslog: env.Syslog}
	var in Input
	var err error
	if len(env.Args) > 0 {
		var help bool
		in, help, err = ParseArgs(env.Args)
		if err == nil && help {
			usage(env.Stdout)
			return ExitOK
		}
	} else {
		if env.StdinTerminal {
			log.info("reading key=value options from stdin until end of file (fence_nova --help shows them)")
		}
		in, err = ParseStdin(env.Stdin)
	}
	if err != nil {
		log.fail("%v", err)
		return ExitFailed
	}
	for _, key := range in.Unknown {
		log.info("ignoring unknown option %q", key)
	}
	o, err := NewOptions(in)
	if err != nil {
		log.fail("%v", err)
		return ExitFailed
	}
	log.node, log.plug = o.Node, o.Plug
	switch o.Action {
	case Metadata:
		metadata(env.Stdout)
		return ExitOK
	case ValidateAll:
		fmt.Fprintln(env.Stdout, "Success: the options are valid")
		return ExitOK
	}

	if o.Delay > 0 && (o.Action == Reboot || o.Action == Off) {
		log.info("waiting %s (delay=%d) before the %s", o.Delay, int(o.Delay.Seconds()), o.Action.request())
		select {
		case <-ctx.Done():
			log.fail("stopped during the delay: %v", ctx.Err())
			return ExitFailed
		case <-time.After(o.Delay):
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	conn, err := connOptions(o, log.addSecret)
	if err != nil {
		log.fail("%v", err)
		return ExitFailed
	}
	clients, err := openstack.Connect(ctx, conn, log.addSecret)
	if err != nil {
		if ctx.Err() != nil {
			log.fail("timed out after %s (timeout=%d) connecting to the cloud: %v", o.Timeout, int(o.Timeout.Seconds()), err)
		} else {
			log.fail("connecting to the cloud: %v", err)
		}
		return ExitFailed
	}
	interval := env.interval
	if interval == 0 {
		interval = pollInterval
	}
	a := agent{nova: nova{clients}, log: log, out: env.Stdout, opts: o, interval: interval}
	return a.run(ctx)
}

// timedOut words an error that came with the end of the run's time.
func timedOut(ctx context.Context, o Options, err error) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("timed out after %s (timeout=%d): %v", o.Timeout, int(o.Timeout.Seconds()), describe(err))
	}
	return describe(err)
}

// agent is one run against Nova.
type agent struct {
	nova     compute
	log      *logger
	out      io.Writer
	opts     Options
	interval time.Duration
}

func (a agent) run(ctx context.Context) int {
	switch a.opts.Action {
	case Status:
		return a.status(ctx)
	case List, ListStatus:
		return a.list(ctx)
	case Monitor:
		if _, err := a.nova.Servers(ctx, false, 1); err != nil {
			a.log.fail("monitor: %s", timedOut(ctx, a.opts, err))
			return ExitFailed
		}
		a.log.debug(a.opts.Verbose, "monitor: Nova answers")
		return ExitOK
	}
	return a.power(ctx)
}

func (a agent) status(ctx context.Context) int {
	s, err := a.nova.Server(ctx, a.opts.Plug)
	switch {
	case err != nil:
		a.log.fail("status: %s", timedOut(ctx, a.opts, err))
		return ExitFailed
	case s == nil:
		a.log.fail("status: Nova has no such server, or does not show it to this credential")
		return ExitFailed
	case s.Status == "ACTIVE":
		fmt.Fprintln(a.out, "Status: ON")
		return ExitOK
	case s.certainlyOff():
		fmt.Fprintln(a.out, "Status: OFF")
		return ExitOff
	}
	a.log.fail("status: neither on nor off: the server is %s", s)
	return ExitFailed
}

func (a agent) list(ctx context.Context) int {
	detail := a.opts.Action == ListStatus
	list, err := a.nova.Servers(ctx, detail, 0)
	if err != nil {
		a.log.fail("%s: %s", a.opts.Action, timedOut(ctx, a.opts, err))
		return ExitFailed
	}
	var b strings.Builder
	for _, s := range list {
		if !detail {
			fmt.Fprintf(&b, "%s,%s\n", s.ID, s.Name)
			continue
		}
		state := "UNKNOWN"
		switch s.Status {
		case "ACTIVE":
			state = "ON"
		case "SHUTOFF":
			state = "OFF"
		}
		fmt.Fprintf(&b, "%s,%s,%s\n", s.ID, s.Name, state)
	}
	_, _ = io.WriteString(a.out, a.log.mask(b.String()))
	return ExitOK
}

// power runs on, off or reboot: read, decide, act, until Decide ends it or
// the timeout does.
func (a agent) power(ctx context.Context) int {
	var req *Request // this run's accepted request
	var last Step
	var result Step
	err := waitFor(ctx, a.interval, func(ctx context.Context) (bool, error) {
		obs, err := a.observe(ctx, req)
		if err != nil {
			return false, err
		}
		step := Decide(a.opts.Action, obs)
		if step != last && (step.Kind == Wait || step.Kind == Send) {
			a.log.debug(a.opts.Verbose, "%s: %s", step.Kind, step.Why)
		}
		last = step
		switch step.Kind {
		case Done, Fail:
			result = step
			return true, nil
		case Send:
			id, err := a.nova.Send(ctx, a.opts.Plug, a.opts.Action)
			switch {
			case isConflict(err):
				last = Step{Kind: Wait, Why: "Nova refuses for now: " + describe(err)}
				a.log.debug(a.opts.Verbose, "%s", last.Why)
				return false, nil
			case isNotFound(err):
				result = Step{Kind: Fail, Why: "Nova has no such server, or does not show it to this credential"}
				return true, nil
			case err != nil:
				return false, fmt.Errorf("request refused: %s", describe(err))
			case id == "" && a.opts.Action == Reboot:
				// Without it the reboot that ran cannot be told from
				// another one.
				return false, errors.New("no request ID (X-Openstack-Request-Id) in Nova's answer to the hard reboot: the agent cannot follow it")
			}
			req = &Request{ID: id}
			a.log.debug(a.opts.Verbose, "Nova accepted the %s: request %s", a.opts.Action.request(), id)
		}
		return false, nil
	})
	switch {
	case err != nil && ctx.Err() != nil:
		seen := last.Why
		if seen == "" {
			seen = describe(err)
		}
		a.log.fail("%s: timed out after %s (timeout=%d); last seen: %s", a.opts.Action, a.opts.Timeout,
			int(a.opts.Timeout.Seconds()), seen)
		return ExitFailed
	case err != nil:
		a.log.fail("%s: %s", a.opts.Action, describe(err))
		return ExitFailed
	case result.Kind == Fail:
		a.log.fail("%s: %s", a.opts.Action, result.Why)
		return ExitFailed
	}
	a.log.info("%s: success: %s", a.opts.Action, result.Why)
	fmt.Fprintln(a.out, "Success: "+string(result.Outcome))
	return ExitOK
}

// observe reads the server and, once sent, this run's request.
func (a agent) observe(ctx context.Context, req *Request) (Observation, error) {
	var obs Observation
	s, err := a.nova.Server(ctx, a.opts.Plug)
	if err != nil {
		return obs, err
	}
	obs.Server = s
	if req != nil && req.ID != "" && s != nil {
		r, err := a.nova.Request(ctx, a.opts.Plug, req.ID)
		if err != nil {
			return obs, err
		}
		obs.Request = &r
	} else if req != nil {
		obs.Request = req
	}
	return obs, nil
}

// waitFor calls check now and then every interval until it reports done
// or an error, or ctx ends: the one wait of the package.
func waitFor(ctx context.Context, interval time.Duration, check func(context.Context) (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := check(ctx)
		if done || err != nil {
			return err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// logger writes one line per message, prefixed "fence_nova:", to stderr
// and syslog, with every secret masked.
type logger struct {
	stderr     io.Writer
	syslog     Syslog
	secrets    []string
	node, plug string
}

func (l *logger) addSecret(s string) {
	if s == "" {
		return
	}
	for _, known := range l.secrets {
		if known == s {
			return
		}
	}
	l.secrets = append(l.secrets, s)
	// Longer first, so that a secret containing another is masked whole.
	sort.Slice(l.secrets, func(i, j int) bool { return len(l.secrets[i]) > len(l.secrets[j]) })
}

func (l *logger) mask(s string) string {
	for _, secret := range l.secrets {
		s = strings.ReplaceAll(s, secret, module.MaskedValue)
	}
	return s
}

func (l *logger) line(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	msg = strings.Join(strings.Fields(l.mask(msg)), " ")
	var who []string
	if l.node != "" {
		who = append(who, "node "+l.node)
	}
	if l.plug != "" {
		who = append(who, "server "+l.plug)
	}
	if len(who) > 0 {
		msg = strings.Join(who, ", ") + ": " + msg
	}
	return msg
}

func (l *logger) info(format string, args ...any) {
	msg := l.line(format, args...)
	fmt.Fprintln(l.stderr, "fence_nova: "+msg)
	if l.syslog != nil {
		_ = l.syslog.Info(msg)
	}
}

func (l *logger) debug(on bool, format string, args ...any) {
	if on {
		l.info(format, args...)
	}
}

func (l *logger) fail(format string, args ...any) {
	msg := l.line(format, args...)
	fmt.Fprintln(l.stderr, "fence_nova: "+msg)
	if l.syslog != nil {
		_ = l.syslog.Err(msg)
	}
}
