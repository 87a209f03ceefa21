package module

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Handler is a module's logic. It must honour req.CheckMode: no writes, and a
// truthful Changed.
type Handler func(ctx context.Context, req *Request) (*Result, error)

// Main runs a module as Ansible does (BINARY ARGS_FILE) and exits.
func Main(name string, spec Spec, h Handler) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := Execute(ctx, name, os.Args[1:], os.Stdout, spec, h)
	stop()
	os.Exit(code)
}

// Execute runs the module with the given command-line arguments, writes one
// JSON object to stdout, and returns the exit code: 0 on success, 1 on
// failure. A panic in h is reported as a JSON failure, never as a bare trace.
func Execute(ctx context.Context, name string, args []string, stdout io.Writer, spec Spec, h Handler) (code int) {
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
	req, err = DecodeArgs(name, data, spec)
	if err != nil {
		return write(stdout, (*Request)(nil).output(nil, err), nil)
	}
	res, err := h(ctx, req)
	return write(stdout, req.output(res, err), req)
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
