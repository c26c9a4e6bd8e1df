package validate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	messagingv1 "knative.dev/eventing/pkg/apis/messaging/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// Manifests are the objects of a knative/ directory, by name.
type Manifests struct {
	Services    map[string]*servingv1.Service
	Brokers     map[string]*eventingv1.Broker
	Triggers    map[string]*eventingv1.Trigger
	PingSources map[string]*sourcesv1.PingSource
	ConfigMaps  map[string]*corev1.ConfigMap
	// SecretKeys lists, per Secret name, the keys the Services read.
	SecretKeys map[string][]string
}

// knativeObject is what the Knative webhooks run on admission.
type knativeObject interface {
	apis.Defaultable
	apis.Validatable
}

// CheckKnative decodes every manifest of dir (*.yaml, *.yml, several
// documents per file) strictly — an unknown field is an error, as in the
// Knative webhooks — then runs Knative's own SetDefaults and Validate (as
// on create, with the default configuration) and keeps errors, not
// warnings. It then checks what only a running cluster would report:
// references between the objects (broker, subscriber, sink, ConfigMaps),
// image names, label and annotation keys under Knative's prefixes, and each
// Service's environment (ConfigMaps, env, Secrets as placeholders): every
// variable read by that function, and the whole loaded and validated by
// the function's own config code. It returns the objects and every
// problem, joined.
func CheckKnative(r Repo, dir string) (*Manifests, error) {
	m := &Manifests{
		Services:    map[string]*servingv1.Service{},
		Brokers:     map[string]*eventingv1.Broker{},
		Triggers:    map[string]*eventingv1.Trigger{},
		PingSources: map[string]*sourcesv1.PingSource{},
		ConfigMaps:  map[string]*corev1.ConfigMap{},
		SecretKeys:  map[string][]string{},
	}
	files, err := manifestFiles(dir)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, file := range files {
		docs, err := splitDocuments(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i, doc := range docs {
			if err := m.add(doc); err != nil {
				errs = append(errs, fmt.Errorf("%s document %d: %w", filepath.Base(file), i+1, err))
			}
		}
	}
	errs = append(errs, m.crossCheck()...)
	return m, errors.Join(errs...)
}

func manifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read manifests: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s has no manifests", dir)
	}
	return files, nil
}

// splitDocuments returns the non-empty YAML documents of file, as kubectl
// reads them.
func splitDocuments(file string) ([][]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	reader := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(file), err)
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(file), err)
		}
		if len(probe) > 0 { // comments only, or an empty document
			docs = append(docs, doc)
		}
	}
}

// add decodes one document by its apiVersion and kind, keeps it, and
// validates it.
func (m *Manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	switch gk := tm.APIVersion + " " + tm.Kind; gk {
	case "serving.knative.dev/v1 Service":
		return admit(doc, tm.Kind, m.Services)
	case "eventing.knative.dev/v1 Broker":
		return admit(doc, tm.Kind, m.Brokers)
	case "eventing.knative.dev/v1 Trigger":
		return admit(doc, tm.Kind, m.Triggers)
	case "sources.knative.dev/v1 PingSource":
		return admit(doc, tm.Kind, m.PingSources)
	case "v1 ConfigMap":
		cm := &corev1.ConfigMap{}
		if err := yaml.UnmarshalStrict(doc, cm); err != nil {
			return fmt.Errorf("ConfigMap: %w", err)
		}
		if cm.Name == "" {
			return errors.New("ConfigMap without metadata.name")
		}
		m.ConfigMaps[cm.Name] = cm
		return nil
	default:
		return fmt.Errorf("%q is not a kind this directory may hold (Service, Broker, Trigger, PingSource, ConfigMap)", gk)
	}
}

// admit does what the Knative webhooks do on kubectl apply of a new
// object: a strict decode, SetDefaults, then Validate, keeping errors (not
// warnings). A decoded object is kept in into even when invalid, so that
// the cross-checks still see it.
func admit[T any, PT interface {
	*T
	knativeObject
	GetName() string
}](doc []byte, kind string, into map[string]PT) error {
	obj := PT(new(T))
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	name := obj.GetName()
	if name == "" {
		return fmt.Errorf("%s without metadata.name", kind)
	}
	into[name] = obj
	ctx := apis.WithinCreate(context.Background())
	obj.SetDefaults(ctx)
	if fe := obj.Validate(ctx).Filter(apis.ErrorLevel); fe != nil {
		return fmt.Errorf("%s %s: %w", kind, name, fe)
	}
	return nil
}

// crossCheck checks references between the objects, their label and
// annotation keys, and each Service's environment.
func (m *Manifests) crossCheck() []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	service := func(what string, ref *duckv1.KReference) {
		if ref == nil {
			fail("%s has no ref to a Service", what)
		} else if ref.Kind != "Service" || ref.APIVersion != "serving.knative.dev/v1" || m.Services[ref.Name] == nil {
			fail("%s refers to %s %s %q, which is not a Service here", what, ref.APIVersion, ref.Kind, ref.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Services)) {
		s := m.Services[name]
		for _, c := range s.Spec.Template.Spec.Containers {
			if err := checkImage(c.Image, name); err != nil {
				errs = append(errs, fmt.Errorf("Service %s: %w", name, err))
			}
			env := NewFunctionEnv()
			for _, from := range c.EnvFrom {
				switch {
				case from.ConfigMapRef != nil:
					cm := m.ConfigMaps[from.ConfigMapRef.Name]
					if cm == nil {
						fail("Service %s: envFrom ConfigMap %q is not here", name, from.ConfigMapRef.Name)
						continue
					}
					for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
						env.Set(from.Prefix+k, cm.Data[k], "ConfigMap "+cm.Name)
					}
				case from.SecretRef != nil:
					fail("Service %s: envFrom a whole Secret hides which variables it sets; use env valueFrom secretKeyRef", name)
				}
			}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom == nil:
					env.Set(e.Name, e.Value, "env")
				case e.ValueFrom.SecretKeyRef != nil:
					ref := e.ValueFrom.SecretKeyRef
					if !slices.Contains(m.SecretKeys[ref.Name], ref.Key) {
						m.SecretKeys[ref.Name] = append(m.SecretKeys[ref.Name], ref.Key)
					}
					env.Set(e.Name, Placeholder(e.Name), "Secret "+ref.Name+" key "+ref.Key)
				case e.ValueFrom.ConfigMapKeyRef != nil:
					ref := e.ValueFrom.ConfigMapKeyRef
					cm := m.ConfigMaps[ref.Name]
					v, ok := "", false
					if cm != nil {
						v, ok = cm.Data[ref.Key]
					}
					if !ok {
						fail("Service %s: env %s refers to key %q of ConfigMap %q, which is not here", name, e.Name, ref.Key, ref.Name)
						continue
					}
					env.Set(e.Name, v, "ConfigMap "+ref.Name+" key "+ref.Key)
				default: // fieldRef, resourceFieldRef: set by the cluster
					env.Set(e.Name, Placeholder(e.Name), "env valueFrom")
				}
			}
			_, launchErrs := env.applyLauncher()
			for _, e := range launchErrs {
				errs = append(errs, fmt.Errorf("Service %s: %w", name, e))
			}
			errs = append(errs, CheckFunctionEnv("Service "+name, name, env)...)
		}
	}
	errs = append(errs, m.checkKeys()...)
	for _, name := range slices.Sorted(maps.Keys(m.Triggers)) {
		t := m.Triggers[name]
		if m.Brokers[t.Spec.Broker] == nil {
			fail("Trigger %s: broker %q is not here", name, t.Spec.Broker)
		}
		service("Trigger "+name+" subscriber", t.Spec.Subscriber.Ref)
	}
	for _, name := range slices.Sorted(maps.Keys(m.PingSources)) {
		service("PingSource "+name+" sink", m.PingSources[name].Spec.Sink.Ref)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Brokers)) {
		cfg := m.Brokers[name].Spec.Config
		if cfg == nil {
			continue
		}
		cm := m.ConfigMaps[cfg.Name]
		if cfg.Kind != "ConfigMap" || cm == nil {
			fail("Broker %s: config %s %q is not a ConfigMap here", name, cfg.Kind, cfg.Name)
			continue
		}
		var tmpl messagingv1.ChannelTemplateSpec
		if err := yaml.UnmarshalStrict([]byte(cm.Data["channel-template-spec"]), &tmpl); err != nil || tmpl.Kind == "" || tmpl.APIVersion == "" {
			fail("Broker %s: ConfigMap %s has no valid channel-template-spec (apiVersion, kind): %v", name, cm.Name, err)
		}
	}
	for _, keys := range m.SecretKeys {
		slices.Sort(keys)
	}
	return errs
}

// checkKeys checks the label and annotation keys of every object (and of
// each Service's revision template) under Knative's prefixes.
func (m *Manifests) checkKeys() []error {
	var errs []error
	check := func(what string, o metav1.Object) {
		for _, e := range checkKeys(knativeKeys, "label", o.GetLabels()) {
			errs = append(errs, fmt.Errorf("%s: %w", what, e))
		}
		for _, e := range checkKeys(knativeKeys, "annotation", o.GetAnnotations()) {
			errs = append(errs, fmt.Errorf("%s: %w", what, e))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Services)) {
		check("Service "+name, m.Services[name])
		check("Service "+name+" template", &m.Services[name].Spec.Template.ObjectMeta)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Brokers)) {
		check("Broker "+name, m.Brokers[name])
	}
	for _, name := range slices.Sorted(maps.Keys(m.Triggers)) {
		check("Trigger "+name, m.Triggers[name])
	}
	for _, name := range slices.Sorted(maps.Keys(m.PingSources)) {
		check("PingSource "+name, m.PingSources[name])
	}
	for _, name := range slices.Sorted(maps.Keys(m.ConfigMaps)) {
		check("ConfigMap "+name, m.ConfigMaps[name])
	}
	return errs
}
