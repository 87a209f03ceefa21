package module

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeArgs feeds arbitrary args files to the decoder and to Execute:
// neither may panic, and Execute always prints one JSON object whose exit code
// agrees with its "failed" key.
func FuzzDecodeArgs(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a"}`,
		`{"name":"a","count":"7","enabled":"yes","tags":"x,y","extra":"a=1 b=2"}`,
		`{"name":1e400}`,
		`{"name":"a","nodes":[{"name":"n","address":"1.2.3.4","id":"2"}]}`,
		`{"name":"a","nodes":[null, 3, {"name":null}]}`,
		`{"name":"a","auth":{"secret":["x",{"y":"z"}]},"password":"p"}`,
		`{"name":"a","_ansible_check_mode":"maybe","_ansible_verbosity":"x"}`,
		`{"name":"a","ports":[22,"80",443.0]}`,
		`{"name":"a","extra":"{\"a\":[1,2]}"}`,
		`[]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeArgs("fuzz", data, testSpec)
		if err == nil {
			if _, err := json.Marshal(req.Params); err != nil {
				t.Fatalf("decoded params do not encode: %v", err)
			}
			if req.Params.String("name") == "" && req.Params["name"] == nil {
				t.Fatal("required option missing after successful decode")
			}
		}
		path := filepath.Join(dir, "args")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		code := Execute(context.Background(), "fuzz", []string{path}, &buf, testSpec, func(ctx context.Context, req *Request) (*Result, error) {
			return &Result{Values: map[string]any{"params": req.Params}}, nil
		})
		var out map[string]any
		if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
			t.Fatalf("output is not JSON: %q", buf.String())
		}
		if failed, _ := out["failed"].(bool); failed != (code == 1) {
			t.Fatalf("exit code %d disagrees with failed=%v", code, out["failed"])
		}
	})
}
