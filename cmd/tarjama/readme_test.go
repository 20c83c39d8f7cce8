package main

import (
	"os"
	"regexp"
	"testing"
)

// TestREADMENamesEveryFlag checks that the README names every flag of run
// and of the batch commands, so that a flag cannot be added without its
// documentation.
func TestREADMENamesEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	flags := append(runFlags(), batchFlagDefs()...)
	for _, f := range flags {
		name := f.Names()[0]
		named := regexp.MustCompile("(?m)(^|[\\s,`(])--" + regexp.QuoteMeta(name) + "([\\s`=,)]|$)")
		if !named.Match(readme) {
			t.Errorf("the README does not name --%s", name)
		}
	}
}
