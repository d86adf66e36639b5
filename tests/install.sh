#!/bin/sh
# make install lays out every file where it belongs: the binary, both man
# pages, the example configuration (never mmirror.conf itself), the
# failure script, the systemd units and timers with their paths
# substituted, the sysusers.d and tmpfiles.d entries; the example loads;
# "make install bindir=... sysconfdir=..." installs units that name those
# directories; make uninstall removes everything.  The installed units pass
# systemd-analyze verify where it is installed and works for this user.
#
# Run by make check from the top build directory.
set -u

build=$(pwd)
if [ ! -f "$build/Makefile" ] || [ ! -x "$build/mmirror" ]; then
	echo "run from the build directory (make check), after make"
	exit 99
fi
tmp=$(mktemp -d /tmp/mmirror-install-XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
status=0

fail()
{
	echo "FAIL: $*"
	status=1
}

# A make of its own in the build directory, outside make check's jobserver.
submake()
{
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$build" "$@" \
		>"$tmp/make.log" 2>&1 || {
		cat "$tmp/make.log"
		echo "FAIL: make $*"
		exit 1
	}
}

# The one file under $1 whose path ends with $2; else says why on stderr
# and returns 1 (callers: x=$(one ...) || status=1).
one()
{
	found=$(cd "$1" && find . -path "*$2" \( -type f -o -type l \) | sed 's|^\.||')
	case $(printf '%s' "$found" | grep -c .) in
	1) printf '%s\n' "$found"; return 0 ;;
	0) echo "FAIL: nothing installed as *$2" >&2 ;;
	*) echo "FAIL: several files installed as *$2: $found" >&2 ;;
	esac
	echo /missing
	return 1
}

# configure --with-...=no installs none of that kind
want() { ! grep -q "^$1 = no\$" "$build/Makefile"; }

units="mmirror-ldap-sync.service mmirror-sync-full.service
mmirror-sync-incremental.service mmirror-failure@.service
mmirror-web.service
mmirror-ldap-sync.timer mmirror-sync-full.timer mmirror-sync-incremental.timer"

# Checks the units installed under root $1 (DESTDIR, or "" for real
# paths): no placeholder left, every path they name installed.
check_units()
{
	root=$1
	unitdir=$2
	conf=
	for u in $units; do
		f=$root$unitdir/$u
		[ -f "$f" ] || { fail "$u not installed in $unitdir"; continue; }
		if grep -n '@[a-z_]*@' "$f"; then
			fail "$u: a placeholder is left"
		fi
		case $u in *.timer) continue ;; esac
		exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$f")
		[ -n "$exe" ] && [ -x "$root$exe" ] ||
			fail "$u: ExecStart names '$exe', which is not installed"
		case $u in
		mmirror-failure@.service)
			case $exe in */mmirror/mmirror-failure) ;; *)
				fail "$u: ExecStart=$exe is not the failure script" ;;
			esac
			env=$(sed -n 's/^EnvironmentFile=-//p' "$f")
			[ "$(dirname "$env")" = "$(dirname "$conf")" ] ||
				fail "$u: EnvironmentFile=$env is not beside $conf"
			;;
		*)
			case $exe in */mmirror) ;; *)
				fail "$u: ExecStart=$exe is not mmirror" ;;
			esac
			conf=$(sed -n 's/^Environment=MMIRROR_CONFIG=//p' "$f")
			[ -f "$root$conf.example" ] ||
				fail "$u: MMIRROR_CONFIG=$conf has no $conf.example beside it"
			paths='ReadWritePaths=/var/lib/mmirror -/var/lib/prometheus/node-exporter'
			# the web server writes no metrics file, and its
			# Settings page edits the configuration file
			[ "$u" = mmirror-web.service ] &&
				paths="ReadWritePaths=/var/lib/mmirror ${conf%/*}"
			for line in User=mmirror ProtectSystem=strict "$paths" \
			    'OnFailure=mmirror-failure@%n.service'; do
				grep -qx "$line" "$f" || fail "$u: no $line"
			done
			;;
		esac
	done
}

# ---- 1. the configured layout, into DESTDIR ----
dest=$tmp/dest
submake install DESTDIR="$dest"
echo "installed by make install DESTDIR=...:"
(cd "$dest" && find . \( -type f -o -type l \) | sed 's|^\.|  |' | sort)

bin=$(one "$dest" /bin/mmirror) || status=1
[ -x "$dest$bin" ] || fail "$bin is not executable"
cmp -s "$dest$bin" "$build/mmirror" || fail "$bin is not the mmirror just built"
one "$dest" /man1/mmirror.1 >/dev/null || status=1
one "$dest" /man5/mmirror.conf.5 >/dev/null || status=1
example=$(one "$dest" /mmirror/mmirror.conf.example) || status=1
[ -e "$dest$(dirname "$example")/mmirror.conf" ] &&
	fail "make install wrote a mmirror.conf"
failure=$(one "$dest" /mmirror/mmirror-failure) || status=1
[ -x "$dest$failure" ] || fail "$failure is not executable"
if want systemdsystemunitdir; then
	unit=$(one "$dest" /mmirror-sync-full.service) || status=1
	check_units "$dest" "$(dirname "$unit")"
fi
if want sysusersdir; then
	f=$(one "$dest" /sysusers.d/mmirror.conf) || status=1
	grep -Eq '^u[[:space:]]+mmirror[[:space:]]' "$dest$f" ||
		fail "$f creates no mmirror user"
fi
if want tmpfilesdir; then
	f=$(one "$dest" /tmpfiles.d/mmirror.conf) || status=1
	grep -Eq '^d[[:space:]]+/var/lib/mmirror[[:space:]]+0750[[:space:]]+mmirror[[:space:]]+mmirror' \
		"$dest$f" || fail "$f does not make /var/lib/mmirror 0750 mmirror mmirror"
fi

# ---- 2. directories given to make, real paths (no DESTDIR) ----
p=$tmp/p
dirs="prefix=$p bindir=$p/sbin sysconfdir=$p/etc libexecdir=$p/lib/exec
systemdsystemunitdir=$p/units sysusersdir=$p/sysusers.d tmpfilesdir=$p/tmpfiles.d"
# shellcheck disable=SC2086 # one word per directory
submake install $dirs
for f in sbin/mmirror etc/mmirror/mmirror.conf.example \
    lib/exec/mmirror/mmirror-failure sysusers.d/mmirror.conf \
    tmpfiles.d/mmirror.conf share/man/man1/mmirror.1 \
    share/man/man5/mmirror.conf.5; do
	[ -f "$p/$f" ] || fail "make install $dirs: no $p/$f"
done
check_units "" "$p/units"
grep -qx "ExecStart=$p/sbin/mmirror sync --full --jobs 4 --wait" \
	"$p/units/mmirror-sync-full.service" ||
	fail "mmirror-sync-full.service does not run $p/sbin/mmirror"
grep -qx "Environment=MMIRROR_CONFIG=$p/etc/mmirror/mmirror.conf" \
	"$p/units/mmirror-sync-full.service" ||
	fail "mmirror-sync-full.service does not read $p/etc/mmirror/mmirror.conf"
grep -qx "ExecStart=$p/lib/exec/mmirror/mmirror-failure %i" \
	"$p/units/mmirror-failure@.service" ||
	fail "mmirror-failure@.service does not run $p/lib/exec/mmirror/mmirror-failure"

# the example loads as it is, its state directory aside
sed "s|^dir = /var/lib/mmirror |dir = $tmp/state |" \
	"$p/etc/mmirror/mmirror.conf.example" >"$tmp/mmirror.conf"
grep -q "^dir = $tmp/state " "$tmp/mmirror.conf" ||
	fail "the example has no 'dir = /var/lib/mmirror'"
if ! "$p/sbin/mmirror" -c "$tmp/mmirror.conf" init >"$tmp/init.log" 2>&1; then
	cat "$tmp/init.log"
	fail "the installed mmirror does not take the installed example"
fi

# a unit that must pass tells whether verify works here at all
printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$tmp/mmirror-probe.service"
if command -v systemd-analyze >/dev/null 2>&1 &&
	systemd-analyze verify "$tmp/mmirror-probe.service" >"$tmp/probe.log" 2>&1 &&
	[ ! -s "$tmp/probe.log" ]; then
	# it prints nothing for good units, and only warns for some faults
	(cd "$p/units" && systemd-analyze verify ./*.service ./*.timer) \
		>"$tmp/verify.log" 2>&1 || status=1
	if [ -s "$tmp/verify.log" ]; then
		cat "$tmp/verify.log"
		fail "systemd-analyze verify"
	else
		echo "systemd-analyze verify: the installed units are clean"
	fi
else
	echo "skipped: systemd-analyze verify is not installed or does not work" \
		"for this user here:"
	cat "$tmp/probe.log" 2>/dev/null
fi
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir "$tmp/root"
	systemd-sysusers --root="$tmp/root" --dry-run \
		"$p/sysusers.d/mmirror.conf" >"$tmp/sysusers.log" 2>&1
	grep -q "Creating user 'mmirror'" "$tmp/sysusers.log" || {
		cat "$tmp/sysusers.log"
		fail "systemd-sysusers would not create the mmirror user"
	}
else
	echo "skipped: systemd-sysusers is not installed"
fi

# shellcheck disable=SC2086
submake uninstall $dirs
left=$(find "$p" \( -type f -o -type l \))
[ -z "$left" ] || fail "make uninstall left: $left"
submake uninstall DESTDIR="$dest"
left=$(find "$dest" \( -type f -o -type l \))
[ -z "$left" ] || fail "make uninstall DESTDIR=... left: $left"

# the build directory's units name the configured directories again
submake contrib/install-paths all
exit $status
