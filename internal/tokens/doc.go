// Package tokens counts the tokens of chat prompts offline, so that tarjama
// can budget requests before it sends them and compare its figures with
// the prompt_tokens the server bills.
//
// OpenAI models are counted exactly with their own tokenizer (tiktoken's
// o200k_base or cl100k_base, loaded from tables embedded in the binary: no
// network access, ever). Any other model, such as a local Llama, Qwen or
// Mistral served through an OpenAI-compatible API, gets an estimate: the
// o200k_base count times OtherModelFactor. Calibration records how far the
// counts were from what the server reported, per model, for the run
// summary.
//
// Binary size: the loader embeds all four of tiktoken's tables, 6.97 MB
// (o200k_base 3.61 MB, cl100k_base 1.68 MB, p50k and r50k 0.84 MB each).
// With tiktoken-go's code and regexp2, importing this package adds about
// 7.5 MB to a program that already links net/http, as tarjama does through
// go-openai; a program that does not also gets net/http (tiktoken-go's
// download loader), about 12 MB in all.
package tokens
