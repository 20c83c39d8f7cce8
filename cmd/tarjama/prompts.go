package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/tarjama/tarjama/glossary"
	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/prompts"
)

// promptsFlags are the flags of prompts list and show; the config file may
// set them too.
func promptsFlags() []cli.Flag {
	return []cli.Flag{
		configFlag(),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "prompts", Usage: "`DIR` of templates that override the embedded ones, file by file"}),
	}
}

func promptsCommand(env *Env) *cli.Command {
	listFlags, showFlags := promptsFlags(), promptsFlags()
	return &cli.Command{
		Name:  "prompts",
		Usage: "list, show and render the prompt templates",
		Subcommands: []*cli.Command{
			{
				Name:   "list",
				Usage:  "list the templates and where each comes from",
				Flags:  listFlags,
				Before: loadConfig(listFlags),
				Action: func(c *cli.Context) error {
					return promptsList(c.String("prompts"), env)
				},
			},
			{
				Name:      "show",
				Usage:     "print a template's source",
				ArgsUsage: "NAME",
				Flags:     showFlags,
				Before:    loadConfig(showFlags),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return &usageError{"prompts show: want one template name", "tarjama prompts show translate"}
					}
					return promptsShow(c.String("prompts"), c.Args().First(), env)
				},
			},
			{
				Name:  "render",
				Usage: "print exactly the messages that would be sent for one row",
				// One subcommand per template, so that flags may follow the
				// name: urfave/cli v2 stops parsing flags at the first
				// argument.
				Subcommands: []*cli.Command{renderCommand("translate", env), renderCommand("key_points", env)},
			},
		},
	}
}

func renderCommand(name string, env *Env) *cli.Command {
	flags := append(promptsFlags(),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "CSV `FILE` to take the row from"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "row", Value: 1, Usage: "1-based data row `N` (the header is not counted)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "id-column", Value: "id", Usage: "input `COLUMN` holding the id"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "title-column", Value: "title", Usage: "input `COLUMN` holding the title"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "body-column", Value: "body", Usage: "input `COLUMN` holding the body"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "key-points", Value: jobs.DefaultKeyPoints, Usage: "how many key points (`N`)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "translation", Usage: "English `TEXT` to use as the translation when rendering key_points (default: a placeholder)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-chunk-tokens", Value: jobs.DefaultMaxChunkTokens, Usage: "as for run: a longer body is rendered part by part (`N`)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "glossary", Usage: "as for run: the glossary `FILE` whose entries found in each part are sent with it"}),
	)
	return &cli.Command{
		Name:      name,
		Usage:     "render the " + name + " messages for row N of the input",
		UsageText: "tarjama prompts render " + name + " --input FILE --row N",
		Flags:     flags,
		Before:    loadConfig(flags),
		Action: func(c *cli.Context) error {
			in := jobs.InputOptions{}
			if c.IsSet("id-column") {
				in.IDColumn = c.String("id-column")
			}
			if c.IsSet("title-column") {
				in.TitleColumn = c.String("title-column")
			}
			if c.IsSet("body-column") {
				in.BodyColumn = c.String("body-column")
			}
			return promptsRender(c.Context, renderOptions{
				Dir: c.String("prompts"), Name: name, Input: c.String("input"),
				Row: c.Int("row"), InputOptions: in, KeyPoints: c.Int("key-points"),
				Translation: c.String("translation"), MaxChunkTokens: c.Int("max-chunk-tokens"),
				Glossary: c.String("glossary"),
			}, env)
		},
	}
}

func promptsList(dir string, env *Env) error {
	set, err := prompts.Load(dir)
	if err != nil {
		return err
	}
	for _, name := range set.Names() {
		_, origin, err := set.Source(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%-12s %s\n", name, origin)
	}
	fmt.Fprintf(env.Stdout, "version      %s\n", set.Version())
	return nil
}

func promptsShow(dir, name string, env *Env) error {
	set, err := prompts.Load(dir)
	if err != nil {
		return err
	}
	text, _, err := set.Source(name)
	if err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, text)
	return nil
}

type renderOptions struct {
	Dir, Name, Input string
	Row              int
	jobs.InputOptions
	KeyPoints      int
	Translation    string
	MaxChunkTokens int
	Glossary       string
}

// errRowFound stops reading the input once the wanted row is seen.
var errRowFound = errors.New("row found")

func promptsRender(ctx context.Context, o renderOptions, env *Env) error {
	if o.Input == "" {
		return &usageError{"prompts render: no input", "tarjama prompts render translate --input articles.csv --row 1"}
	}
	set, err := prompts.Load(o.Dir)
	if err != nil {
		return err
	}
	f, err := os.Open(o.Input)
	if err != nil {
		return fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	var art *jobs.Article
	err = jobs.ReadInput(ctx, o.Input, f, o.InputOptions, func(a jobs.Article) error {
		if a.Row == o.Row {
			art = &a
			return errRowFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRowFound) {
		return err
	}
	if art == nil {
		return &usageError{fmt.Sprintf("%s has no data row %d", o.Input, o.Row), "--row 1 is the first row after the header"}
	}
	var msgs []prompts.Message
	err = nil
	switch o.Name {
	case "translate":
		var g *glossary.Glossary
		if o.Glossary != "" {
			if g, err = glossary.ReadFile(o.Glossary); err != nil {
				return fmt.Errorf("--glossary: %w", err)
			}
		}
		// A long article is sent in parts: each is shown after a line
		// that says which.
		parts := jobs.Parts(*art, o.MaxChunkTokens, g)
		for i, in := range parts {
			m, err := set.Translate(in)
			if err != nil {
				return err
			}
			if len(parts) > 1 {
				msgs = append(msgs, prompts.Message{Role: fmt.Sprintf("part %d of %d", i+1, len(parts))})
			}
			msgs = append(msgs, m...)
		}
	case "key_points":
		tr := o.Translation
		if tr == "" {
			tr = fmt.Sprintf("(the English translation of row %d, id %s, goes here)", art.Row, art.ID)
		}
		msgs, err = set.KeyPoints(prompts.KeyPointsInput{Title: "(the English title)", Translation: tr, Count: o.KeyPoints})
	default:
		err = fmt.Errorf("no template %q", o.Name)
	}
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Content == "" { // a part's heading
			fmt.Fprintf(env.Stdout, "--- %s ---\n", m.Role)
			continue
		}
		fmt.Fprintf(env.Stdout, "=== %s ===\n%s\n", m.Role, m.Content)
	}
	return nil
}
