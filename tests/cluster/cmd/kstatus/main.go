// Command kstatus prints the kstatus verdict of Kubernetes objects: the same
// computation (status.Compute) that Flux and Helm 4 `--wait` use to decide
// whether an object is ready. Helm 4 imports the maintained fork
// github.com/fluxcd/cli-utils, so that is the library used here.
//
//	kstatus [--kubeconfig FILE] [-n NAMESPACE] [-o text|json] TYPE NAME
//	kstatus [--kubeconfig FILE] [-n NAMESPACE] [-o text|json] TYPE/NAME
//	kstatus [-o text|json] -f FILE      # offline, FILE may be "-" (stdin)
//
// TYPE is resolved like kubectl does (deploy, deployments.apps,
// deploymentreadiness, dr, ...). Text output is one line per object:
//
//	<Status>\t<Kind>/<namespace>/<name>\t<message>
//
// where Status is one of InProgress, Current, Failed, Terminating, Unknown.
// The exit code is 0 whenever a verdict was computed, 1 on errors.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/resource"
)

type verdict struct {
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace,omitempty"`
	Name       string             `json:"name"`
	Status     string             `json:"status"`
	Message    string             `json:"message"`
	Conditions []status.Condition `json:"conditions,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		kubeconfig = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
		namespace  = flag.String("n", "", "namespace (default: the kubeconfig's)")
		file       = flag.String("f", "", "compute offline from a YAML/JSON file; - for stdin")
		output     = flag.String("o", "text", "output format: text or json")
	)
	flag.StringVar(namespace, "namespace", "", "same as -n")
	flag.Parse()
	if *output != "text" && *output != "json" {
		return fmt.Errorf("-o must be text or json, not %q", *output)
	}

	var objs []*unstructured.Unstructured
	var err error
	if *file != "" {
		if flag.NArg() != 0 {
			return errors.New("-f takes no TYPE/NAME arguments")
		}
		objs, err = readFile(*file)
	} else {
		objs, err = fetch(*kubeconfig, *namespace, flag.Args())
	}
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return errors.New("no objects found")
	}

	var out []verdict
	for _, u := range objs {
		res, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		out = append(out, verdict{
			Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(),
			Status: res.Status.String(), Message: res.Message, Conditions: res.Conditions,
		})
	}
	if *output == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if len(out) == 1 {
			return enc.Encode(out[0])
		}
		return enc.Encode(out)
	}
	for _, v := range out {
		fmt.Printf("%s\t%s/%s/%s\t%s\n", v.Status, v.Kind, v.Namespace, v.Name, v.Message)
	}
	return nil
}

func readFile(path string) ([]*unstructured.Unstructured, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	var objs []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		// utiljson keeps integers int64, as status.Compute expects.
		m := map[string]any{}
		if err := utiljson.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			if err := u.EachListItem(func(o runtime.Object) error {
				objs = append(objs, o.(*unstructured.Unstructured))
				return nil
			}); err != nil {
				return nil, err
			}
			continue
		}
		objs = append(objs, u)
	}
}

func fetch(kubeconfig, namespace string, args []string) ([]*unstructured.Unstructured, error) {
	if len(args) == 0 || len(args) > 2 || (len(args) == 1 && !strings.Contains(args[0], "/")) {
		return nil, errors.New("usage: kstatus [-n NAMESPACE] TYPE NAME | TYPE/NAME | -f FILE")
	}
	flags := genericclioptions.NewConfigFlags(true)
	if kubeconfig != "" {
		flags.KubeConfig = &kubeconfig
	}
	ns := namespace
	if ns == "" {
		cfgNS, _, err := flags.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, err
		}
		ns = cfgNS
	}
	res := resource.NewBuilder(flags).
		Unstructured().
		NamespaceParam(ns).DefaultNamespace().
		ResourceTypeOrNameArgs(false, args...).
		SingleResourceType().
		Latest().
		Flatten().
		Do()
	if err := res.Err(); err != nil {
		return nil, err
	}
	infos, err := res.Infos()
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("unexpected object type %T", info.Object)
		}
		objs = append(objs, u)
	}
	return objs, nil
}
