package output

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/tarjama/tarjama/internal/dirs"
)

// RunRecordName is the name of the file WriteRunRecord writes.
const RunRecordName = "run.json"

// WriteRunRecord writes rec (a jobs.RunRecord) as indented JSON to
// dir/run.json, creating dir (with perm.Dir) if missing. The file is
// replaced atomically, as the results are: a reader sees the previous
// run.json or the whole new one, and on error the previous one stays as it
// was. Its mode is perm.File; the zero Perm means DefaultPerm and
// DefaultDirPerm.
func WriteRunRecord(dir string, rec any, perm Perm) error {
	if dir == "" {
		return ErrNoDir
	}
	perm = perm.withDefaults()
	if err := dirs.MkdirAll(dir, perm.Dir); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	return writeAtomic(dir, RunRecordName, perm.File, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	})
}
