package dashboard

import "html/template"

// parseTemplates parses the pages. html/template escapes every value by
// its context (text, attribute, URL), so event types, sources and
// property values from events show as text, never as markup.
func parseTemplates() (*template.Template, error) {
	return template.New("pages").ParseFS(templateFS, "templates/*.html")
}
