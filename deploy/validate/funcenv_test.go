package validate

import (
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFunctionSpecsMatchMains: functionSpecs has one entry per function of
// functions/, each the spec that function's main.go passes to serve.Main, so
// the checks load each function's environment with the code its binary runs.
func TestFunctionSpecsMatchMains(t *testing.T) {
	t.Parallel()
	r := repo(t)
	want, err := r.Functions()
	require.NoError(t, err)
	assert.Equal(t, want, slices.Sorted(maps.Keys(functionSpecs)))
	for _, name := range want {
		fs, ok := functionSpecs[name]
		if !ok {
			continue
		}
		assert.Equal(t, name, fs.Spec.Name(), "%s.%s names another function", fs.Pkg, fs.Var)
		f, err := parser.ParseFile(token.NewFileSet(), r.Path("functions/"+name+"/main.go"), nil, 0)
		require.NoError(t, err)
		imports := map[string]string{} // local name -> import path
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			local := path.Base(p)
			if im.Name != nil {
				local = im.Name.Name
			}
			imports[local] = p
		}
		src, err := os.ReadFile(r.Path("functions/" + name + "/main.go"))
		require.NoError(t, err)
		m := mainCall.FindSubmatch(src)
		require.NotNil(t, m, "functions/%s/main.go calls serve.Main(pkg.Spec)", name)
		assert.Equal(t, fs.Pkg, imports[string(m[1])], "functions/%s/main.go: the spec's package", name)
		assert.Equal(t, fs.Var, string(m[2]), "functions/%s/main.go: the spec", name)
	}
}

var mainCall = regexp.MustCompile(`serve\.Main\((\w+)\.(\w+)\)`)

// TestReadEnv: the variables each function reads come from its own config
// struct, as envconfig reads them.
func TestReadEnv(t *testing.T) {
	t.Parallel()
	read := func(fn string) map[string]bool {
		got, err := ReadEnv(fn)
		require.NoError(t, err)
		return got
	}
	assert.True(t, read("ingest")["DEDUP_WINDOW"])
	assert.True(t, read("ingest")["REDIS_URL"])
	assert.False(t, read("ingest")["DATABASE_URL"], "ingest has no database")
	assert.True(t, read("archive")["HOT_DAYS"])
	assert.True(t, read("archive")["ARCHIVE_URL"])
	assert.True(t, read("archive")["AWS_SECRET_ACCESS_KEY"], "S3 credentials come with ARCHIVE_URL")
	for _, fn := range []string{"stats-dau", "stats-top", "stats-retention"} {
		assert.False(t, read(fn)["HOT_DAYS"], fn)
		assert.False(t, read(fn)["ARCHIVE_URL"], fn)
		assert.False(t, read(fn)["NATS_URL"], fn)
		assert.True(t, read(fn)["STATS_QUERY_TIMEOUT"], fn)
	}
	// The dashboard reads the stats limits under their names, and no
	// broker or archive settings.
	assert.True(t, read("dashboard")["STATS_MAX_RANGE_DAYS"])
	assert.True(t, read("dashboard")["DASHBOARD_SESSION_TTL"])
	assert.True(t, read("dashboard")["API_KEYS"])
	assert.False(t, read("dashboard")["NATS_URL"])
	assert.False(t, read("dashboard")["ROLLUP_TIMEZONES"], "the stats functions keep the rollups")
	for _, fn := range slices.Collect(maps.Keys(functionSpecs)) {
		assert.True(t, read(fn)["PORT"], fn)
		assert.True(t, read(fn)[launcherEnv], fn)
	}
	_, err := ReadEnv("no-such-function")
	assert.ErrorContains(t, err, "add it to functionSpecs")
}

// TestLoadConfig runs a function's own config code on a given environment,
// and leaves the process environment as it was.
func TestLoadConfig(t *testing.T) {
	// Not parallel with itself only; LoadConfig serialises its own use.
	const sentinel = "kept-by-the-test"
	t.Setenv("HOT_DAYS", sentinel)
	require.NoError(t, os.Unsetenv("STATS_MAX_RANGE_DAYS"))

	assert.NoError(t, LoadConfig("archive", map[string]string{"HOT_DAYS": "7", "ARCHIVE_URL": "file:///var/lib/eventfn/archive"}))
	assert.ErrorContains(t, LoadConfig("archive", map[string]string{"HOT_DAYS": "thirty"}), "HOT_DAYS")
	assert.ErrorContains(t, LoadConfig("archive", map[string]string{"HOT_DAYS": "0"}), "HOT_DAYS must be at least 1")
	// A variable the environment does not set takes the function's default,
	// not the process's value.
	assert.NoError(t, LoadConfig("archive", map[string]string{}))
	assert.ErrorContains(t, LoadConfig("stats-top", map[string]string{"STATS_MAX_RANGE_DAYS": "0"}), "STATS_MAX_RANGE_DAYS")
	assert.ErrorContains(t, LoadConfig("ingest", map[string]string{"DEDUP_WINDOW": "24hours"}), "DEDUP_WINDOW")
	assert.NoError(t, LoadConfig("ingest", map[string]string{"DEDUP_WINDOW": "36h"}))

	assert.Equal(t, sentinel, os.Getenv("HOT_DAYS"), "restored")
	_, set := os.LookupEnv("STATS_MAX_RANGE_DAYS")
	assert.False(t, set, "unset again")
}

// TestCheckFunctionEnv: a variable the function does not read is named with
// where it came from; a value it refuses is reported with its own message.
func TestCheckFunctionEnv(t *testing.T) {
	t.Parallel()
	env := NewFunctionEnv()
	env.Set("HOT_DAYS", "30", "ConfigMap eventfn")
	env.Set("STATS_QUERY_TIMEOUT", "soon", "env")
	errs := CheckFunctionEnv("Service stats-top", "stats-top", env)
	require.Len(t, errs, 2)
	assert.ErrorContains(t, errs[0], "Service stats-top: environment variable HOT_DAYS (from ConfigMap eventfn) is not read by stats-top")
	assert.ErrorContains(t, errs[1], "Service stats-top: stats-top would not start with this environment: config: envconfig.Process: assigning STATS_QUERY_TIMEOUT")

	launched := NewFunctionEnv()
	launched.Set(launcherEnv, "DATABASE_URL=/run/secrets/db, API_KEYS=/run/secrets/keys", "environment")
	paths, errs := launched.applyLauncher()
	assert.Empty(t, errs)
	assert.Equal(t, []string{"/run/secrets/db", "/run/secrets/keys"}, paths)
	assert.Equal(t, Placeholder("DATABASE_URL"), launched.Values["DATABASE_URL"])
	assert.Empty(t, CheckFunctionEnv("test", "stats-dau", launched), "placeholders pass the config code")

	bad := NewFunctionEnv()
	bad.Set(launcherEnv, "DATABASE_URL", "environment")
	_, errs = bad.applyLauncher()
	assert.Len(t, errs, 1)
}
