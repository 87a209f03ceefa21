// Package cli is the lab's command line, bin/lab: one function per
// command, each parsing its flags and calling the lab's packages.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/cloud"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/image"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/vm"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/volume"
)

const usage = `lab: a multi-attach cluster of real VMs on this machine

usage: lab COMMAND [flags] [args]

  build       build (or find in the cache) the guest image
  up          boot the lab: --nodes N VMs on a private cluster link
  down        stop every process of the lab and remove its disks and volumes
  status      nodes: power (running, frozen, off), qemu pid, cluster link (up, down),
              Nova server id, ports, memory and volumes (--json: the same as JSON)
  inventory   write the Ansible inventory and print its path (--list: JSON)
  instance-config --output FILE
              write Molecule's instance config, kept up to date afterwards
  ssh NODE [COMMAND...]
              a shell on NODE, or run COMMAND there (its exit status is ours)
  console NODE
              NODE's serial console (Ctrl-] leaves); --tail N prints its log
  attach --volume ID [--size MiB] [NODE...]
              hot-plug a shared volume (made if missing) into nodes (default all)
  detach --volume ID [NODE...]
              hot-unplug a volume from nodes (default all that have it)
  add-node    boot another node and hot-plug the shared volumes into it
  reboot NODE reboot NODE (or power it on after kill); --hard resets it
  kill NODE   stop NODE's VM at once, as a power cut would
  freeze NODE stop NODE's qemu (SIGSTOP): it keeps its disk and looks dead
  thaw NODE   let a frozen NODE run again (SIGCONT)
  link NODE down|up
              cut or restore NODE's private cluster link (SSH and disks keep
              working); a VM started again has it up
  openstack   serve a fake Keystone/Nova/Cinder whose servers are the lab's VMs:
              attachments hot-plug, reboot/os-stop/os-start power the VMs
              (--shutdown-timeout, --soft-reboot-timeout); while it runs
              Nova owns the power: a VM that dies reads SHUTOFF and stays off
              until os-start or a HARD reboot. Its clouds.yaml has the entries
              lab (127.0.0.1, for this machine) and lab-guest (10.0.2.100, for
              the nodes); server ids are fixed per lab and node

Every command takes --lab NAME|DIR (default $LAB or "default": .lab/NAME in
the checkout) and --cache DIR (default .cache/lab in the checkout).
`

// Main runs the lab command line and returns the exit status.
func Main(args []string) int {
	if len(args) < 1 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) < 1 {
			return 2
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := args[0], args[1:]
	c, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(os.Stderr, "lab: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	err := c(ctx, cmd, rest)
	var exit *exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.code
	case errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintf(os.Stderr, "lab %s: %v\n", cmd, err)
		return 1
	}
}

// exitStatus passes a remote command's exit status through.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

type subcommand func(ctx context.Context, name string, args []string) error

var commands map[string]subcommand

func init() {
	commands = map[string]subcommand{
		"build":           cmdBuild,
		"up":              cmdUp,
		"down":            cmdDown,
		"status":          cmdStatus,
		"inventory":       cmdInventory,
		"instance-config": cmdInstanceConfig,
		"ssh":             cmdSSH,
		"console":         cmdConsole,
		"attach":          cmdAttach,
		"detach":          cmdDetach,
		"add-node":        cmdAddNode,
		"reboot":          cmdReboot,
		"kill":            cmdKill,
		"freeze":          cmdFreeze,
		"thaw":            cmdThaw,
		"link":            cmdLink,
		"repo-conn":       cmdRepoConn,
		"relay":           cmdRelay,
		"openstack":       cmdOpenStack,
	}
}

// common are the flags every command has.
type common struct {
	fs       *flag.FlagSet
	labName  *string
	cache    *string
	platform *string
	mirror   *string
}

func newFlags(name string) *common {
	fs := flag.NewFlagSet("lab "+name, flag.ContinueOnError)
	def := os.Getenv("LAB")
	if def == "" {
		def = "default"
	}
	return &common{
		fs:       fs,
		labName:  fs.String("lab", def, "lab name (under .lab/ in the checkout) or directory"),
		cache:    fs.String("cache", os.Getenv("LAB_CACHE"), "image cache directory (default .cache/lab in the checkout)"),
		platform: fs.String("platform", envOr("LAB_PLATFORM", image.DefaultPlatform), "guest platform: debian12 or debian13"),
		mirror:   fs.String("mirror", envOr("LAB_MIRROR", image.DefaultMirror), "Debian mirror the image is built from"),
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (c *common) parse(args []string) error { return c.fs.Parse(args) }

// root is the checkout the lab program belongs to (bin/lab's parent), or
// failing that the one around the working directory; lab state and the
// image cache live there by default (both git-ignored).
func root() string {
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dir := filepath.Dir(filepath.Dir(exe))
			if isCheckout(dir) {
				return dir
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; dir != "/"; dir = filepath.Dir(dir) {
			if isCheckout(dir) {
				return dir
			}
		}
	}
	return "/var/tmp/cinder-multiattach"
}

func isCheckout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "internal", "lab"))
	return err == nil
}

func (c *common) lab() *lab.Lab {
	dir := *c.labName
	if !strings.Contains(dir, "/") {
		dir = filepath.Join(root(), ".lab", dir)
	}
	exe, _ := os.Executable()
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return &lab.Lab{Dir: absPath(dir), CacheDir: c.cacheDir(), Executable: exe, Out: os.Stderr}
}

func (c *common) cacheDir() string {
	if *c.cache != "" {
		return absPath(*c.cache)
	}
	return filepath.Join(root(), ".cache", "lab")
}

func (c *common) recipe() (image.Recipe, error) {
	p, err := image.LookupPlatform(*c.platform)
	if err != nil {
		return image.Recipe{}, err
	}
	return image.NewRecipe(p, *c.mirror), nil
}

func cmdBuild(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	if err := c.parse(args); err != nil {
		return err
	}
	r, err := c.recipe()
	if err != nil {
		return err
	}
	t0 := time.Now()
	im, built, err := image.Build(ctx, c.cacheDir(), r, os.Stderr)
	if err != nil {
		return err
	}
	if built {
		fmt.Fprintf(os.Stderr, "lab: image built in %.0f s\n", time.Since(t0).Seconds())
	} else {
		fmt.Fprintf(os.Stderr, "lab: image is cached\n")
	}
	fmt.Println(im.Dir)
	return nil
}

func cmdUp(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	nodes := c.fs.Int("nodes", 3, "number of nodes")
	portBase := c.fs.Int("port-base", 0, "node N's SSH is on 127.0.0.1:port-base+N (default: derived from the lab directory)")
	memory := c.fs.Int("memory", 1280, "memory per VM in MiB")
	accel := c.fs.String("accel", "auto", "auto, tcg or kvm")
	timeout := c.fs.Duration("ssh-timeout", 10*time.Minute, "how long to wait for SSH on every node")
	volumeID := c.fs.String("volume", "", "also make this shared volume and attach it to every node")
	size := c.fs.Int("volume-size", lab.DefaultVolumeMiB, "size of --volume in MiB")
	if err := c.parse(args); err != nil {
		return err
	}
	r, err := c.recipe()
	if err != nil {
		return err
	}
	l := c.lab()
	if err := l.Up(ctx, lab.UpOptions{Nodes: *nodes, PortBase: *portBase, MemoryMiB: *memory, Accel: *accel, Recipe: r, SSHTimeout: *timeout}); err != nil {
		return err
	}
	if *volumeID != "" {
		if err := l.Attach(ctx, *volumeID, *size, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "lab: inventory %s\nlab: log in with `bin/lab ssh --lab %s node1`; stop with `bin/lab down --lab %s`\n", l.InventoryPath(), *c.labName, *c.labName)
	return nil
}

func cmdDown(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	if err := c.parse(args); err != nil {
		return err
	}
	l := c.lab()
	if err := l.Down(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "lab: %s is down\n", l.Dir)
	return nil
}

func cmdStatus(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	asJSON := c.fs.Bool("json", false, "print JSON")
	if err := c.parse(args); err != nil {
		return err
	}
	l := c.lab()
	st, err := l.RequireState()
	if err != nil {
		return err
	}
	status := l.Status(st)
	if *asJSON {
		b, _ := json.MarshalIndent(map[string]any{"dir": l.Dir, "accel": st.Accel, "image": st.Image, "nodes": status, "volumes": st.Volumes}, "", "  ")
		fmt.Println(string(b))
		return nil
	}
	fmt.Printf("lab %s (image %s, accel %s)\n", l.Dir, filepath.Base(st.Image), st.Accel)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPOWER\tPID\tLINK\tSSH\tCLUSTER ADDRESS\tSERVER ID\tRSS MiB\tVOLUMES")
	for _, s := range status {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t127.0.0.1:%d\t%s\t%s\t%d\t%s\n", s.Name, s.Power, s.PID, s.ClusterLink, s.SSHPort,
			s.ClusterAddress, s.ServerID, s.RSSMiB, strings.Join(s.Volumes, ","))
	}
	tw.Flush()
	for _, v := range st.Volumes {
		fmt.Printf("volume %s: %d MiB, %s, attached to %s\n", v.ID, v.SizeMiB, volume.ByIDPath(v.ID), strings.Join(v.Attached, ","))
	}
	return nil
}

func cmdInventory(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	list := c.fs.Bool("list", false, "print the inventory as JSON (Ansible's script inventory protocol)")
	host := c.fs.String("host", "", "print one host's variables as JSON (script inventory protocol)")
	show := c.fs.Bool("print", false, "print the YAML inventory instead of its path")
	if err := c.parse(args); err != nil {
		return err
	}
	l := c.lab()
	st, err := l.State()
	if err != nil {
		return err
	}
	switch {
	case *list:
		if st == nil {
			st = &lab.State{} // no lab yet: an empty inventory, not an error
		}
		b, err := lab.InventoryJSON(st, l.Dir)
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	case *host != "":
		if st == nil {
			fmt.Println("{}")
			return nil
		}
		n, err := st.Node(*host)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(lab.HostVarsOf(st, l.Dir, n), "", "  ")
		fmt.Println(string(b))
		return nil
	}
	if st == nil {
		return fmt.Errorf("no lab is up in %s: run `lab up` first", l.Dir)
	}
	if err := l.WriteInventory(st); err != nil {
		return err
	}
	if *show {
		b, err := os.ReadFile(l.InventoryPath())
		if err != nil {
			return err
		}
		os.Stdout.Write(b)
		return nil
	}
	fmt.Println(l.InventoryPath())
	return nil
}

func cmdInstanceConfig(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	output := c.fs.String("output", "", "Molecule's instance_config.yml to write (and keep up to date)")
	if err := c.parse(args); err != nil {
		return err
	}
	if *output == "" {
		return errors.New("--output is required")
	}
	return c.lab().WriteInstanceConfig(ctx, *output)
}

func nodeArg(c *common, args []string, what string) (string, []string, error) {
	if err := c.parse(args); err != nil {
		return "", nil, err
	}
	if c.fs.NArg() < 1 {
		return "", nil, fmt.Errorf("which node? usage: lab %s", what)
	}
	return c.fs.Arg(0), c.fs.Args()[1:], nil
}

func cmdSSH(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	node, command, err := nodeArg(c, args, "ssh NODE [COMMAND...]")
	if err != nil {
		return err
	}
	l := c.lab()
	st, err := l.RequireState()
	if err != nil {
		return err
	}
	n, err := st.Node(node)
	if err != nil {
		return err
	}
	signal.Ignore(os.Interrupt) // the remote side gets ^C
	cmd := l.SSHCommand(st, n, command)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return &exitStatus{ee.ExitCode()}
		}
		return err
	}
	return nil
}

func cmdConsole(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	lines := c.fs.Int("tail", 0, "print the last N lines of the console log and exit")
	node, _, err := nodeArg(c, args, "console NODE")
	if err != nil {
		return err
	}
	l := c.lab()
	st, err := l.RequireState()
	if err != nil {
		return err
	}
	n, err := st.Node(node)
	if err != nil {
		return err
	}
	if *lines > 0 {
		fmt.Println(vm.ConsoleTail(l.ConsoleLog(n), *lines))
		return nil
	}
	return l.Console(ctx, n, os.Stdin, os.Stdout)
}

func cmdAttach(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	volumeID := c.fs.String("volume", "", "volume id (the device serial)")
	size := c.fs.Int("size", lab.DefaultVolumeMiB, "size in MiB when the volume is made")
	if err := c.parse(args); err != nil {
		return err
	}
	if *volumeID == "" {
		return errors.New("--volume is required")
	}
	if err := c.lab().Attach(ctx, *volumeID, *size, c.fs.Args()); err != nil {
		return err
	}
	fmt.Println(volume.ByIDPath(*volumeID))
	return nil
}

func cmdDetach(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	volumeID := c.fs.String("volume", "", "volume id")
	if err := c.parse(args); err != nil {
		return err
	}
	if *volumeID == "" {
		return errors.New("--volume is required")
	}
	return c.lab().Detach(ctx, *volumeID, c.fs.Args())
}

func cmdAddNode(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	count := c.fs.Int("count", 1, "how many nodes to add")
	total := c.fs.Int("total", 0, "add nodes until the lab has this many (nothing to do if it has)")
	timeout := c.fs.Duration("ssh-timeout", 10*time.Minute, "how long to wait for SSH")
	if err := c.parse(args); err != nil {
		return err
	}
	l := c.lab()
	if *total > 0 {
		st, err := l.RequireState()
		if err != nil {
			return err
		}
		*count = *total - len(st.Nodes)
		if *count <= 0 {
			fmt.Println("unchanged: the lab has", len(st.Nodes), "nodes")
			return nil
		}
	}
	added, err := l.AddNode(ctx, *count, *timeout)
	if err != nil {
		return err
	}
	fmt.Println("added:", strings.Join(added, " "))
	return nil
}

func cmdReboot(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	hard := c.fs.Bool("hard", false, "reset the VM instead of a clean reboot")
	shutdown := c.fs.Duration("shutdown-timeout", 2*time.Minute, "reset the VM if a clean reboot has not brought it down by then")
	timeout := c.fs.Duration("ssh-timeout", 10*time.Minute, "how long to wait for SSH")
	node, _, err := nodeArg(c, args, "reboot NODE")
	if err != nil {
		return err
	}
	return c.lab().Reboot(ctx, node, lab.RebootOptions{Hard: *hard, ShutdownTimeout: *shutdown, SSHTimeout: *timeout})
}

func cmdKill(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	node, _, err := nodeArg(c, args, "kill NODE")
	if err != nil {
		return err
	}
	return c.lab().Kill(ctx, node)
}

func cmdFreeze(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	node, err := onlyNodeArg(c, args, "freeze NODE")
	if err != nil {
		return err
	}
	return c.lab().Freeze(ctx, node)
}

func cmdThaw(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	node, err := onlyNodeArg(c, args, "thaw NODE")
	if err != nil {
		return err
	}
	return c.lab().Thaw(ctx, node)
}

func cmdLink(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	node, rest, err := nodeArg(c, args, "link NODE down|up")
	if err != nil {
		return err
	}
	up, err := linkState(rest)
	if err != nil {
		return err
	}
	return c.lab().SetClusterLink(ctx, node, up)
}

// onlyNodeArg is nodeArg for a command that takes the node and nothing
// else.
func onlyNodeArg(c *common, args []string, what string) (string, error) {
	node, rest, err := nodeArg(c, args, what)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments %q: usage: lab %s", rest, what)
	}
	return node, err
}

// linkState reads link's state argument: down or up.
func linkState(args []string) (up bool, err error) {
	if len(args) != 1 || args[0] != "down" && args[0] != "up" {
		return false, fmt.Errorf("down or up? usage: lab link NODE down|up (got %q)", args)
	}
	return args[0] == "up", nil
}

// cmdRepoConn serves the package source on one guest connection (qemu's
// guestfwd runs it with the connection as stdin and stdout). stderr goes to
// the guest too, so it is closed first.
func cmdRepoConn(ctx context.Context, name string, args []string) error {
	fs := flag.NewFlagSet("lab "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	repo := fs.String("repo", "", "repository directory")
	fs.String("lab", "", "the lab directory (names the process for `down`)")
	if err := fs.Parse(args); err != nil {
		return &exitStatus{2}
	}
	conn, err := guestConnection()
	if err != nil {
		return &exitStatus{1}
	}
	if err := image.ServeRepoConn(conn, *repo, 2*time.Minute); err != nil {
		return &exitStatus{1}
	}
	return nil
}

// cmdRelay relays one guest connection to the lab's OpenStack (qemu's
// guestfwd runs it with the connection as stdin and stdout): `lab relay
// --lab DIR 127.0.0.1:PORT`. Like repo-conn it says nothing: its stderr
// is the guest's connection too.
func cmdRelay(ctx context.Context, name string, args []string) error {
	addr, err := relayArgs(args)
	if err != nil {
		return &exitStatus{2}
	}
	conn, err := guestConnection()
	if err != nil {
		return &exitStatus{1}
	}
	if err := cloud.Relay(conn, addr); err != nil {
		return &exitStatus{1}
	}
	return nil
}

// relayArgs checks relay's arguments and returns the address to relay to.
func relayArgs(args []string) (string, error) {
	fs := flag.NewFlagSet("lab relay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("lab", "", "the lab directory (names the process for `down`)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 {
		return "", errors.New("usage: lab relay --lab DIR 127.0.0.1:PORT")
	}
	return fs.Arg(0), cloud.CheckRelayAddress(fs.Arg(0))
}

// guestConnection is the guest connection qemu runs this process for, on
// stdin (stdout and stderr are the same socket): stderr goes to /dev/null
// first, so that nothing but the service's bytes reaches the guest, and
// the process takes the name the lab reaps guest connections by.
func guestConnection() (net.Conn, error) {
	if devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		syscall.Dup2(int(devnull.Fd()), 2)
		os.Stderr = devnull
	}
	proc.NameGuestConnection()
	return net.FileConn(os.Stdin)
}

func cmdOpenStack(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	serve := c.fs.Bool("serve", false, "serve in the foreground (what the background process runs)")
	var o cloud.PowerOptions
	c.fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", cloud.DefaultShutdownTimeout,
		"os-stop: how long the guest has to power off after the ACPI power button, before it is forced off (Nova's shutdown_timeout)")
	c.fs.DurationVar(&o.ShutdownRetryInterval, "shutdown-retry-interval", cloud.DefaultShutdownRetryInterval,
		"os-stop: press the power button again this often (Nova's shutdown_retry_interval)")
	c.fs.DurationVar(&o.SoftRebootTimeout, "soft-reboot-timeout", cloud.DefaultSoftRebootTimeout,
		"a SOFT reboot becomes HARD if the guest has not powered off by then (Nova's wait_soft_reboot_seconds)")
	if err := c.parse(args); err != nil {
		return err
	}
	l := c.lab()
	if *serve {
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
		defer stop()
		return cloud.Serve(ctx, l, o)
	}
	path, err := cloud.Start(ctx, l, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "lab: OpenStack of the lab in %s: use OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=%s (the nodes: entry %s)\n",
		filepath.Base(l.Dir), path, cloud.Name, cloud.GuestName)
	fmt.Println(path)
	return nil
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
