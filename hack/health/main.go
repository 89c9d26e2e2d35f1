// gregor-health judges a Kubernetes object's health the way GitOps tools do, with their own
// libraries rather than a copy of their rules:
//
//	gregor-health kstatus < object.json         # sigs.k8s.io/cli-utils kstatus (Flux's wait, kpt)
//	gregor-health argocd SCRIPT.lua < object.json  # an Argo CD health Lua, run on gopher-lua as Argo CD does
//
// Each prints one JSON line: {"status": "...", "message": "..."}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gregor-health:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: gregor-health kstatus | argocd SCRIPT.lua  (object JSON on stdin)")
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	// The API machinery's decoder keeps integers as int64, as kstatus expects.
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return fmt.Errorf("object: %w", err)
	}
	obj := u.Object
	var v verdict
	switch args[0] {
	case "kstatus":
		res, err := status.Compute(u)
		if err != nil {
			return err
		}
		v = verdict{Status: res.Status.String(), Message: res.Message}
	case "argocd":
		if len(args) != 2 {
			return fmt.Errorf("usage: gregor-health argocd SCRIPT.lua")
		}
		script, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		v, err = argocd(obj, string(script))
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown judge %q", args[0])
	}
	return json.NewEncoder(os.Stdout).Encode(v)
}

// argocd runs a health script with the object as the global `obj`, as Argo CD's Lua VM does, and
// reads the table it returns.
func argocd(obj map[string]interface{}, script string) (verdict, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer l.Close()
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return verdict{}, fmt.Errorf("lua: %w", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return verdict{}, fmt.Errorf("lua: the script returned %s, not a table", l.Get(-1).Type())
	}
	return verdict{Status: lua.LVAsString(ret.RawGetString("status")), Message: lua.LVAsString(ret.RawGetString("message"))}, nil
}

func toLua(l *lua.LState, v interface{}) lua.LValue {
	switch t := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(t)
	case float64:
		return lua.LNumber(t)
	case int64:
		return lua.LNumber(t)
	case string:
		return lua.LString(t)
	case []interface{}:
		tbl := l.NewTable()
		for _, item := range t {
			tbl.Append(toLua(l, item))
		}
		return tbl
	case map[string]interface{}:
		tbl := l.NewTable()
		for k, item := range t {
			tbl.RawSetString(k, toLua(l, item))
		}
		return tbl
	default:
		return lua.LString(fmt.Sprint(t))
	}
}
