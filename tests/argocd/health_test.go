// Runs deploy/argocd/health.lua the way Argo CD runs a resource customization's health check
// (gopher-lua, the object as the global `obj`, the returned table's status and message) over
// the cases of deploy/argocd/health_test.yaml, in Argo CD's resource_customizations layout.
package argocd

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

var customization = filepath.Join("..", "..", "deploy", "argocd")

type healthTests struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

type health struct {
	status, message string
}

func TestDeploymentReadinessHealth(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(customization, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(customization, "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases healthTests
	if err := yaml.UnmarshalStrict(raw, &cases); err != nil {
		t.Fatalf("health_test.yaml: %v", err)
	}
	if len(cases.Tests) == 0 {
		t.Fatal("health_test.yaml has no tests")
	}
	seen := map[string]bool{}
	for _, tc := range cases.Tests {
		seen[filepath.Clean(tc.InputPath)] = true
		t.Run(tc.InputPath, func(t *testing.T) {
			input, err := os.ReadFile(filepath.Join(customization, tc.InputPath))
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := yaml.Unmarshal(input, &obj); err != nil {
				t.Fatalf("%s: %v", tc.InputPath, err)
			}
			got, err := runHealth(string(script), obj)
			if err != nil {
				t.Fatal(err)
			}
			if got.status != tc.HealthStatus.Status {
				t.Errorf("status: got %q, want %q (message %q)", got.status, tc.HealthStatus.Status, got.message)
			}
			if got.message != tc.HealthStatus.Message {
				t.Errorf("message:\n got %q\nwant %q", got.message, tc.HealthStatus.Message)
			}
		})
	}
	// Every test input is used, so a case cannot be dropped from health_test.yaml unnoticed.
	files, err := filepath.Glob(filepath.Join(customization, "testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var unused []string
	for _, f := range files {
		rel, _ := filepath.Rel(customization, f)
		if !seen[rel] {
			unused = append(unused, rel)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("testdata files without a case in health_test.yaml: %v", unused)
	}
}

// runHealth runs the script in a sandbox like Argo CD's: base, table, string and math only.
func runHealth(script string, obj map[string]any) (health, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return health{}, err
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("health.lua returned %s, not a table", L.Get(-1).Type())
	}
	return health{status: lua.LVAsString(ret.RawGetString("status")), message: lua.LVAsString(ret.RawGetString("message"))}, nil
}

// toLua converts decoded JSON the way Argo CD does: objects and arrays become tables
// (arrays 1-indexed), numbers float64, null nil.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(float64(v))
	case string:
		return lua.LString(v)
	case []any:
		t := L.NewTable()
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, item := range v {
			t.RawSetString(k, toLua(L, item))
		}
		return t
	default:
		return lua.LString(fmt.Sprintf("unsupported %T", v))
	}
}
