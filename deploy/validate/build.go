package validate

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// BuildScript is the one script that builds a function binary.
const BuildScript = "scripts/build-function"

var (
	goBuild       = regexp.MustCompile(`(^|[\s;&|(])(go|\$\(GO\)|\$\{GO\}|\$GO)\s+(build|install)\b`)
	scriptCall    = regexp.MustCompile(regexp.QuoteMeta(BuildScript) + `\s+"?\$\{?FUNCTION\}?"?\s+(\S+)`)
	localTool     = regexp.MustCompile(`^\t@?(\$\(GO\)|go)\s+build\s+-o\s+\S+\s+\./cmd/[a-z0-9-]+\s*$`)
	copyFromBuild = regexp.MustCompile(`^COPY\s+(?:--\S+\s+)*--from=build\s+(?:--\S+\s+)*(\S+)\s+\S+$`)
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	op   string // upper case, e.g. RUN
	args string
}

func dockerInstructions(data []byte) []instruction {
	var (
		out     []instruction
		cur     strings.Builder
		started int
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			started = n
		} else if strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		op, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: started, op: strings.ToUpper(op), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// CheckDockerfile checks that the image builds its function only through
// BuildScript, with the FUNCTION build argument, that the binary it writes
// is the one the final stage copies, and that it runs as a non-root user
// on port 8080.
func CheckDockerfile(data []byte) error {
	var (
		errs      []error
		outputs   []string
		copied    = map[string]bool{}
		argFn     bool
		user      string
		expose    bool
		entryFunc bool
	)
	for _, in := range dockerInstructions(data) {
		switch in.op {
		case "FROM":
			argFn = false // ARGs are per stage
		case "ARG":
			if in.args == "FUNCTION" || strings.HasPrefix(in.args, "FUNCTION=") {
				argFn = true
			}
		case "RUN":
			if goBuild.MatchString(in.args) {
				errs = append(errs, fmt.Errorf("Dockerfile line %d runs the go build itself; use %s so the image and make build cannot drift", in.line, BuildScript))
			}
			for _, m := range scriptCall.FindAllStringSubmatch(in.args, -1) {
				if !argFn {
					errs = append(errs, fmt.Errorf("Dockerfile line %d uses $FUNCTION before ARG FUNCTION in its stage", in.line))
				}
				outputs = append(outputs, m[1])
			}
		case "COPY":
			if m := copyFromBuild.FindStringSubmatch(in.op + " " + in.args); m != nil {
				copied[m[1]] = true
			}
		case "USER":
			user = in.args
		case "EXPOSE":
			expose = expose || strings.Fields(in.args)[0] == "8080"
		case "ENTRYPOINT", "CMD":
			entryFunc = entryFunc || strings.Contains(in.args, "/usr/local/bin/function")
		}
	}
	if len(outputs) == 0 {
		errs = append(errs, fmt.Errorf("Dockerfile never runs %s \"$FUNCTION\" OUTPUT", BuildScript))
	}
	for _, o := range outputs {
		if !copied[o] {
			errs = append(errs, fmt.Errorf("Dockerfile builds %s but the final stage does not COPY --from=build it", o))
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		errs = append(errs, fmt.Errorf("Dockerfile runs as user %q; want a non-root user", user))
	}
	if !expose {
		errs = append(errs, errors.New("Dockerfile does not EXPOSE 8080"))
	}
	if !entryFunc {
		errs = append(errs, errors.New("Dockerfile's ENTRYPOINT does not start /usr/local/bin/function"))
	}
	return errors.Join(errs...)
}

// CheckMakefile checks that no recipe of the Makefile runs go build or go
// install itself, and that its build target, when there is one, runs
// BuildScript: function binaries are built one way only. The one exception
// is a local tool of cmd/ (make run's gateway), which no image contains: a
// go build of ./cmd/NAME alone.
func CheckMakefile(data []byte) error {
	var (
		errs   []error
		target string
		// scriptless counts build recipes seen so far that never ran the
		// script; every recipe of the target must, not just one of them.
		inBuild, buildUsesScript bool
		scriptless               int
	)
	endBuild := func() {
		if inBuild && !buildUsesScript {
			scriptless++
		}
		inBuild, buildUsesScript = false, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "\t") {
			if goBuild.MatchString(line) && !localTool.MatchString(line) {
				errs = append(errs, fmt.Errorf("Makefile line %d (target %s) runs go build itself; use %s", n, target, BuildScript))
			}
			if inBuild && strings.Contains(line, BuildScript) {
				buildUsesScript = true
			}
			continue
		}
		if t, _, ok := strings.Cut(line, ":"); ok && !strings.ContainsAny(t, "=#\t") && !strings.HasPrefix(line, ".") {
			endBuild()
			target = strings.TrimSpace(t)
			inBuild = target == "build"
		}
	}
	endBuild()
	if scriptless > 0 {
		errs = append(errs, fmt.Errorf("Makefile target build does not run %s", BuildScript))
	}
	return errors.Join(errs...)
}

// CheckStaticBinary checks that the ELF file at path is what BuildScript
// promises: statically linked (no interpreter, no shared libraries),
// stripped of symbols and DWARF, and free of the build machine's paths.
func CheckStaticBinary(path, buildRoot string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var errs []error
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			errs = append(errs, fmt.Errorf("%s has an ELF interpreter: dynamically linked", path))
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		errs = append(errs, fmt.Errorf("%s needs shared libraries %v", path, libs))
	}
	for _, s := range f.Sections {
		if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			errs = append(errs, fmt.Errorf("%s keeps section %s: not stripped (-s -w)", path, s.Name))
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if bytes.Contains(data, []byte(buildRoot+"/")) {
		errs = append(errs, fmt.Errorf("%s contains the build path %s: not built with -trimpath", path, buildRoot))
	}
	return errors.Join(errs...)
}
