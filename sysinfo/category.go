package sysinfo

import "strings"

// debianSections maps each Debian archive section
// (https://packages.debian.org/stable/) to the paper's "kind/area" style of
// category, so that "mail" becomes "network/email" and an announcement for
// a category reaches the hosts that have one. Sections not listed become
// "other/<section>".
var debianSections = map[string]string{
	"admin": "system/admin", "kernel": "system/kernel", "shells": "system/shells",
	"utils": "system/utilities", "otherosfs": "system/filesystems",
	"localization": "system/localization", "metapackages": "system/metapackages",
	"tasks": "system/metapackages", "libs": "system/libraries",
	"oldlibs": "system/libraries", "introspection": "system/libraries",
	"misc": "system/misc",

	"mail": "network/email", "net": "network/tools", "news": "network/news",
	"comm": "network/communication", "web": "network/web",
	"httpd": "server/web", "database": "server/database",

	"devel": "development/tools", "libdevel": "development/libraries",
	"debug": "development/debug", "vcs": "development/vcs",
	"interpreters": "development/interpreters", "cli-mono": "development/mono",
	"golang": "development/go", "haskell": "development/haskell",
	"java": "development/java", "javascript": "development/javascript",
	"lisp": "development/lisp", "ocaml": "development/ocaml",
	"perl": "development/perl", "php": "development/php",
	"python": "development/python", "ruby": "development/ruby",
	"rust": "development/rust", "gnu-r": "development/r", "zope": "development/zope",

	"x11": "desktop/x11", "gnome": "desktop/gnome", "kde": "desktop/kde",
	"xfce": "desktop/xfce", "gnustep": "desktop/gnustep", "fonts": "desktop/fonts",
	"graphics": "desktop/graphics", "sound": "desktop/sound", "video": "desktop/video",
	"games": "desktop/games",

	"editors": "applications/editors", "text": "applications/text",
	"tex": "applications/tex", "science": "applications/science",
	"math": "applications/math", "education": "applications/education",
	"electronics": "applications/electronics", "embedded": "applications/embedded",
	"hamradio": "applications/hamradio",

	"doc": "documentation/doc",
}

// debianCategory derives the category from a dpkg Section, which may carry
// an archive area ("contrib/net", "non-free/mail"); the area is dropped.
func debianCategory(section string) string {
	if section == "" {
		return ""
	}
	if i := strings.LastIndexByte(section, '/'); i >= 0 {
		section = section[i+1:]
	}
	if c, ok := debianSections[section]; ok {
		return c
	}
	return "other/" + strings.ToLower(section)
}

// rpmCategory derives the category from an rpm Group ("Applications/Internet",
// SUSE's "Productivity/Networking/Email/Clients"): lower case, words joined
// by '-'. Fedora and RHEL now mostly say "Unspecified", which means none.
func rpmCategory(group string) string {
	group = strings.TrimSpace(group)
	if group == "" || strings.EqualFold(group, "Unspecified") {
		return ""
	}
	parts := strings.Split(group, "/")
	for i, p := range parts {
		parts[i] = strings.Join(strings.Fields(strings.ToLower(p)), "-")
	}
	return strings.Join(parts, "/")
}
