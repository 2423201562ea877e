package privacy

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"slices"
	texttemplate "text/template"
)

//go:embed templates/*.txt
var kernelTemplates embed.FS

// DefaultTemplates are the kernel's own templates: the data request mail
// (rights.txt). A host copies and edits them to override them (Rights.Templates).
var DefaultTemplates, _ = fs.Sub(kernelTemplates, "templates")

// mustSub is fs.Sub of an embedded folder, which cannot fail.
// Templates is a capability's markup: the pages and forms it renders (files named
// *.html, parsed with html/template) and the mail and other text it writes (*.txt
// and *.md, parsed with text/template), from its embedded defaults with a host's
// overrides on top, so a host can restyle and translate every word it shows.
type Templates struct {
	HTML *htmltemplate.Template
	Text *texttemplate.Template
}

// ParseTemplates parses the *.html, *.txt and *.md files at the root of defaults, then
// those of override (nil for none) over them. An override replaces what it
// defines: a file named as a default file replaces that file, and any file may
// redefine single templates with {{define "name"}}, so a host can restyle one form
// or translate every page and mail. funcs are available to every template.
//
// A template an override defines that no default defines is an error naming it,
// so a misspelt name fails at start-up instead of being silently ignored.
func ParseTemplates(defaults, override fs.FS, funcs map[string]any) (*Templates, error) {
	t := &Templates{
		HTML: htmltemplate.New("").Funcs(funcs),
		Text: texttemplate.New("").Funcs(funcs),
	}
	known := map[string]bool{}
	if err := t.add(defaults, funcs, known, false); err != nil {
		return nil, fmt.Errorf("templates: defaults: %w", err)
	}
	if override != nil {
		if err := t.add(override, funcs, known, true); err != nil {
			return nil, fmt.Errorf("templates: override: %w", err)
		}
	}
	return t, nil
}

// add parses every template file at the root of fsys into t. Without check it
// records the names defined in known; with check, a name outside known is an error.
func (t *Templates) add(fsys fs.FS, funcs map[string]any, known map[string]bool, check bool) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		file, ext := e.Name(), path.Ext(e.Name())
		if e.IsDir() || ext != ".html" && ext != ".txt" && ext != ".md" {
			continue
		}
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return err
		}
		var names []string
		if ext == ".html" {
			one, err := htmltemplate.New(file).Funcs(funcs).Parse(string(b))
			if err != nil {
				return err
			}
			for _, d := range one.Templates() {
				names = append(names, d.Name())
			}
			if _, err := t.HTML.New(file).Parse(string(b)); err != nil {
				return err
			}
		} else {
			one, err := texttemplate.New(file).Funcs(funcs).Parse(string(b))
			if err != nil {
				return err
			}
			for _, d := range one.Templates() {
				names = append(names, d.Name())
			}
			if _, err := t.Text.New(file).Parse(string(b)); err != nil {
				return err
			}
		}
		slices.Sort(names)
		for _, n := range names {
			switch {
			case !check:
				known[n] = true
			case !known[n] && n != file:
				return fmt.Errorf("%s defines %q, which is not a template of this package", file, n)
			}
		}
	}
	return nil
}
