package rollup

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLoadZoneTakesIANANamesOnly(t *testing.T) {
	for _, name := range []string{"UTC", "Europe/Kyiv", "Europe/Kiev", "Etc/GMT+5", "America/Argentina/Buenos_Aires", "EST5EDT"} {
		_, err := LoadZone(name)
		assert.NoError(t, err, name)
	}
	// Other spellings of a zone file's path would each be a cache entry:
	// endless in number.
	for _, name := range []string{"", "Local", "./UTC", "Etc//UTC", ".//./UTC", "../../etc/passwd", "/etc/passwd", "UTC\x00", "Europe/Kyiv/", "Nowhere/City"} {
		_, err := LoadZone(name)
		assert.Error(t, err, name)
	}
}
