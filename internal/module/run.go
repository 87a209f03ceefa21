package module

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// Handler is a module's logic. It must honour req.CheckMode: no writes, and a
// truthful Changed.
type Handler func(ctx context.Context, req *Request) (*Result, error)

// Module is one module a binary serves.
type Module struct {
	Name    string
	Spec    Spec
	Handler Handler
}

// Main runs a module as Ansible does (BINARY ARGS_FILE) and exits.
func Main(name string, spec Spec, h Handler) { Serve(Module{Name: name, Spec: spec, Handler: h}) }

// Serve runs, as Ansible does (BINARY ARGS_FILE), one of the modules a binary
// serves, and exits. The args file names it: its _ansible_module_name is the
// task's action (cinder.multiattach.NAME; the action plugin sets it), and the
// last dot-separated part picks the module. One binary serves several
// modules where that keeps the collection small (gfs2_fs and ocfs2_fs share
// nearly all their code).
func Serve(modules ...Module) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := ExecuteModules(ctx, os.Args[1:], os.Stdout, modules...)
	stop()
	os.Exit(code)
}

// Execute runs the module with the given command-line arguments, writes one
// JSON object to stdout, and returns the exit code: 0 on success, 1 on
// failure. A panic in h is reported as a JSON failure, never as a bare trace.
func Execute(ctx context.Context, name string, args []string, stdout io.Writer, spec Spec, h Handler) (code int) {
	return ExecuteModules(ctx, args, stdout, Module{Name: name, Spec: spec, Handler: h})
}

// ExecuteModules is Execute for a binary that serves several modules: the
// args file's _ansible_module_name picks one. A binary that serves one module
// runs it when the args file names no module, and refuses another's name.
func ExecuteModules(ctx context.Context, args []string, stdout io.Writer, modules ...Module) (code int) {
	name := modules[0].Name
	if len(modules) > 1 {
		name = "this binary (" + moduleNames(modules) + ")"
	}
	var req *Request
	defer func() {
		if p := recover(); p != nil {
			out := req.output(nil, fmt.Errorf("internal error in module %s: %v", name, p))
			out["exception"] = string(debug.Stack())
			code = write(stdout, out, req)
		}
	}()

	if len(args) != 1 {
		return write(stdout, (*Request)(nil).output(nil, fmt.Errorf(
			"%s is an Ansible module: run it through Ansible, or give the path of a JSON arguments file as its only argument", name)), nil)
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return write(stdout, (*Request)(nil).output(nil, fmt.Errorf("cannot read module arguments: %w", err)), nil)
	}
	m, err := pick(data, modules)
	if err != nil {
		return write(stdout, (*Request)(nil).output(nil, err), nil)
	}
	name = m.Name
	req, err = DecodeArgs(m.Name, data, m.Spec)
	if err != nil {
		return write(stdout, (*Request)(nil).output(nil, err), nil)
	}
	res, err := m.Handler(ctx, req)
	return write(stdout, req.output(res, err), req)
}

// pick finds the module the args name (the last part of _ansible_module_name).
func pick(data []byte, modules []Module) (Module, error) {
	var named struct {
		Name string `json:"_ansible_module_name"`
	}
	// A malformed file is DecodeArgs' to report, with the module's name.
	_ = json.Unmarshal(data, &named)
	short := named.Name[strings.LastIndex(named.Name, ".")+1:]
	for _, m := range modules {
		if m.Name == short {
			return m, nil
		}
	}
	if short == "" && len(modules) == 1 {
		return modules[0], nil
	}
	return Module{}, fmt.Errorf("this binary serves the module(s) %s, not %q (_ansible_module_name)", moduleNames(modules), named.Name)
}

func moduleNames(modules []Module) string {
	names := make([]string, len(modules))
	for i, m := range modules {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// write prints the result as one JSON object. Values are first reduced to
// their JSON form so that secrets inside structs are masked too.
func write(w io.Writer, out map[string]any, req *Request) int {
	code := 0
	if failed, _ := out["failed"].(bool); failed {
		code = 1
	}
	data, err := json.Marshal(out)
	if err != nil {
		data, _ = json.Marshal(map[string]any{"failed": true, "changed": out["changed"],
			"msg": fmt.Sprintf("cannot encode the module result: %v", err)})
		code = 1
	}
	if req != nil && len(req.secrets) > 0 {
		var generic any
		if json.Unmarshal(data, &generic) == nil {
			data, _ = json.Marshal(maskSecrets(generic, req.secrets))
		}
	}
	_, _ = w.Write(append(data, '\n'))
	return code
}
