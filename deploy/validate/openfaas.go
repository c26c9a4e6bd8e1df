package validate

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/openfaas/go-sdk/stack"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// OpenFaaS names this package checks stack.yml against.
const (
	// CronTopic is the annotation value the cron-connector subscribes to.
	CronTopic = "cron-function"
	// SecretsDir is where OpenFaaS mounts a function's secrets.
	SecretsDir = "/var/openfaas/secrets/"
	// HealthPathAnnotation is faas-netes' annotation for the probe path.
	HealthPathAnnotation = "com.openfaas.health.http.path"
)

var secretPath = regexp.MustCompile(regexp.QuoteMeta(SecretsDir) + `([a-z0-9][a-z0-9.-]*)`)

// CheckStack parses an OpenFaaS stack file the way faas-cli does
// (stack.ParseYAMLFile, with environment substitution), decodes it again
// strictly (unknown fields are errors: faas-cli ignores them silently),
// and checks what faas-cli would find only at build or deploy time:
// the dockerfile build of each function, its image name, its environment
// (files and its own variables: each one read by that function, and the
// whole loaded and validated by the function's own config code, secrets
// standing in as placeholders), its secrets, its com.openfaas.* keys,
// scaling labels and cron annotations. Relative paths (handler,
// environment_file) are taken from the repository root, where faas-cli
// runs. It returns the parsed stack and every problem found, joined.
func CheckStack(r Repo, file string) (*stack.Services, error) {
	services, err := stack.ParseYAMLFile(file, "", "", true)
	if err != nil {
		return nil, fmt.Errorf("%s: faas-cli parser: %w", file, err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var strict stack.Services
	if err := decodeStrict(raw, &strict); err != nil {
		return nil, fmt.Errorf("%s: strict decode: %w", file, err)
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(services.Functions)) {
		for _, e := range checkFunction(r, name, services.Functions[name]) {
			errs = append(errs, fmt.Errorf("%s: function %s: %w", file, name, e))
		}
	}
	return services, errors.Join(errs...)
}

func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(v)
}

func checkFunction(r Repo, name string, f stack.Function) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// The build: one Dockerfile at the handler, the function as argument.
	if f.Language != "dockerfile" {
		fail("lang is %q, want dockerfile (one Dockerfile builds every function)", f.Language)
	}
	dockerfile, err := os.ReadFile(filepath.Join(r.Path(f.Handler), "Dockerfile"))
	if err != nil {
		fail("handler %q has no Dockerfile: %v", f.Handler, err)
	} else if !regexp.MustCompile(`(?m)^ARG FUNCTION\s*$`).Match(dockerfile) {
		fail("the Dockerfile at handler %q declares no ARG FUNCTION", f.Handler)
	}
	if got := f.BuildArgs["FUNCTION"]; got != name {
		fail("build_args.FUNCTION is %q, want %q", got, name)
	}
	if err := checkImage(f.Image, name); err != nil {
		errs = append(errs, err)
	}

	// Environment: files decoded strictly and merged in order, the
	// function's own variables last (they win, as in faas-cli); then what
	// the image's launcher sets from secret files.
	env := NewFunctionEnv()
	for _, ef := range f.EnvironmentFile {
		path := ef
		if !filepath.IsAbs(path) {
			path = r.Path(path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			fail("environment_file: %v", err)
			continue
		}
		var file stack.EnvironmentFile
		if err := decodeStrict(data, &file); err != nil {
			fail("environment_file %s: %v", ef, err)
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(file.Environment)) {
			env.Set(k, file.Environment[k], "environment_file "+ef)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(f.Environment)) {
		env.Set(k, f.Environment[k], "environment")
	}
	// Secrets: every path under SecretsDir the function reads is mounted.
	for _, k := range slices.Sorted(maps.Keys(env.Values)) {
		for _, m := range secretPath.FindAllStringSubmatch(env.Values[k], -1) {
			if !slices.Contains(f.Secrets, m[1]) {
				fail("environment %s reads secret %s, which is not in secrets %v", k, m[1], f.Secrets)
			}
		}
	}
	paths, launchErrs := env.applyLauncher()
	errs = append(errs, launchErrs...)
	for _, p := range paths {
		if !strings.HasPrefix(p, SecretsDir) {
			fail("%s reads %s, which is not an OpenFaaS secret (under %s)", launcherEnv, p, SecretsDir)
		}
	}
	// The binary is the build argument's function.
	fn := name
	if b := f.BuildArgs["FUNCTION"]; b != "" {
		fn = b
	}
	errs = append(errs, CheckFunctionEnv("environment", fn, env)...)

	var labels, annotations map[string]string
	if f.Labels != nil {
		labels = *f.Labels
	}
	if f.Annotations != nil {
		annotations = *f.Annotations
	}
	errs = append(errs, checkKeys(openfaasKeys, "label", labels)...)
	errs = append(errs, checkKeys(openfaasKeys, "annotation", annotations)...)
	errs = append(errs, checkScaleLabels(labels)...)
	errs = append(errs, checkCron(annotations)...)
	if p, ok := annotations[HealthPathAnnotation]; ok && !strings.HasPrefix(p, "/") {
		fail("annotation %s %q is not a path", HealthPathAnnotation, p)
	}
	return errs
}

// checkImage wants REGISTRY/NAME:TAG with NAME the function, so that two
// functions never push to one image.
func checkImage(image, name string) error {
	repo := image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	if repo == "" || repo[strings.LastIndex(repo, "/")+1:] != name {
		return fmt.Errorf("image %q is not named after the function (want .../%s:TAG)", image, name)
	}
	return nil
}

// checkScaleLabels checks the values of the com.openfaas.scale.* labels
// faas-netes and the OpenFaaS autoscaler read (openfaasKeys checks the keys).
func checkScaleLabels(labels map[string]string) []error {
	var errs []error
	ints := map[string]int{}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		switch k {
		case "com.openfaas.scale.min", "com.openfaas.scale.max", "com.openfaas.scale.target", "com.openfaas.scale.factor":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("label %s %q is not a whole number >= 0", k, v))
				continue
			}
			ints[k] = n
		case "com.openfaas.scale.type":
			if !slices.Contains([]string{"rps", "capacity", "cpu", "memory", "queue"}, v) {
				errs = append(errs, fmt.Errorf("label %s %q is not rps, capacity, cpu, memory or queue", k, v))
			}
		case "com.openfaas.scale.zero":
			if v != "true" && v != "false" {
				errs = append(errs, fmt.Errorf("label %s %q is not true or false", k, v))
			}
		case "com.openfaas.scale.target-proportion":
			if p, err := strconv.ParseFloat(v, 64); err != nil || p <= 0 || p > 1 {
				errs = append(errs, fmt.Errorf("label %s %q is not in (0, 1]", k, v))
			}
		case "com.openfaas.scale.zero-duration":
			if !regexp.MustCompile(`^\d+[smh]$`).MatchString(v) {
				errs = append(errs, fmt.Errorf("label %s %q is not a duration like 15m", k, v))
			}
		}
	}
	lo, okLo := ints["com.openfaas.scale.min"]
	hi, okHi := ints["com.openfaas.scale.max"]
	if okLo && okHi && lo > hi {
		errs = append(errs, fmt.Errorf("label com.openfaas.scale.min %d is above com.openfaas.scale.max %d", lo, hi))
	}
	return errs
}

// checkCron checks the cron-connector's annotations: a schedule needs the
// topic exactly "cron-function", and the topic needs a five-field schedule.
func checkCron(annotations map[string]string) []error {
	topic, hasTopic := annotations["topic"]
	schedule, hasSchedule := annotations["schedule"]
	var errs []error
	if hasSchedule && topic != CronTopic {
		errs = append(errs, fmt.Errorf("annotation schedule is set but topic is %q, want exactly %q (the cron-connector ignores it otherwise)", topic, CronTopic))
	}
	if hasTopic && topic == CronTopic {
		if !hasSchedule {
			errs = append(errs, fmt.Errorf("annotation topic %q needs a schedule annotation", CronTopic))
		} else if _, err := cron.ParseStandard(schedule); err != nil {
			errs = append(errs, fmt.Errorf("annotation schedule %q: %w", schedule, err))
		}
	}
	return errs
}
