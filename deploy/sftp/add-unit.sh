#!/usr/bin/env bash
# Add (or repair) one unit's SFTP account for gjj-exchange.
#
#   add-unit.sh <单位账号> <ssh-public-key-file> [GJJ_HOME]
#
# Creates, idempotently (running it again repairs ownership, modes and mounts):
#   - group gjj-units (every unit account; sshd_config matches on it) and the unit's own group;
#   - the system user u<单位账号>: no password, shell nologin, home = its chroot;
#   - $GJJ_HOME/inbox/<单位账号>/   owner = the unit, group = the processor's own group, 2770: the
#     setgid bit makes every upload belong to the processor's group, so a running processor reads a
#     new unit's files at once (no new group membership, no restart) and no other unit can;
#     $GJJ_HOME/outbox/<单位账号>/  owner = the processor, group = the unit, 2750 (unit may only read);
#     the setgid bit makes everything the processor writes there belong to the unit's group;
#   - the authorised key, root-owned, in /etc/ssh/gjj-authorized-keys/u<单位账号>: every key line
#     carries `restrict` (merged into the options a line already has);
#   - layout "bind" (default): the chroot /srv/gjj-sftp/<单位账号>/ (root, 0755) with the inbox
#     bind-mounted at inbox/ and the outbox bind-mounted read-only at outbox/, both added to
#     /etc/fstab so they come back after a reboot;
#     layout "home" (where bind mounts are impossible, e.g. an unprivileged container): the chroot
#     is $GJJ_HOME itself, locked down to 0711 so a unit can reach only inbox/<单位账号>/ and
#     outbox/<单位账号>/ (see README.md: the processor must then run with umask 0027); the folders
#     the processor writes (archive/, quarantine/, var/, outbox/_centre/) are the service user's, and
#     folders of units that have no account (any more) are re-owned to it, so an account that gets
#     a removed unit's numeric ids finds nothing of that unit's.
#
# Settings (environment):
#   GJJ_SFTP_LAYOUT       bind | home                         (default bind)
#   GJJ_SFTP_ROOT         where the per-unit chroots live       (default /srv/gjj-sftp)
#   GJJ_SFTP_GROUP        the group sshd_config matches         (default gjj-units)
#   GJJ_SFTP_USER_PREFIX  account name = prefix + 单位账号      (default u)
#   GJJ_SFTP_KEYS_DIR     root-owned authorised keys            (default /etc/ssh/gjj-authorized-keys)
#   GJJ_SFTP_FSTAB        file the bind mounts are recorded in  (default /etc/fstab; empty: none)
#   GJJ_SERVICE_USER      the user the processor runs as        (default root)
set -euo pipefail

die() {
  echo "add-unit.sh: $*" >&2
  exit 1
}

[[ $# -ge 2 && $# -le 3 ]] || die "usage: add-unit.sh <单位账号> <ssh-public-key-file> [GJJ_HOME]"
unit=$1
key_file=$2
home_arg=${3:-${GJJ_HOME:-$PWD}}

layout=${GJJ_SFTP_LAYOUT:-bind}
sftp_root=${GJJ_SFTP_ROOT:-/srv/gjj-sftp}
units_group=${GJJ_SFTP_GROUP:-gjj-units}
prefix=${GJJ_SFTP_USER_PREFIX:-u}
keys_dir=${GJJ_SFTP_KEYS_DIR:-/etc/ssh/gjj-authorized-keys}
fstab=${GJJ_SFTP_FSTAB-/etc/fstab}
service_user=${GJJ_SERVICE_USER:-root}

[[ $(id -u) -eq 0 ]] || die "must run as root"
# A unit account becomes a user name and a path: letters and digits only.
[[ $unit =~ ^[0-9A-Za-z]{1,24}$ ]] || die "bad 单位账号: '$unit'"
[[ $layout == bind || $layout == home ]] || die "GJJ_SFTP_LAYOUT must be bind or home, not '$layout'"
[[ -r $key_file ]] || die "cannot read public key file $key_file"
ssh-keygen -l -f "$key_file" >/dev/null 2>&1 || die "$key_file is not an OpenSSH public key"
id -u "$service_user" >/dev/null 2>&1 || die "service user $service_user does not exist"
service_group=$(id -gn -- "$service_user")
home=$(realpath -e -- "$home_arg") || die "GJJ_HOME $home_arg does not exist (run 'gjj init' first)"
[[ -d $home/inbox && -d $home/outbox ]] || die "$home has no inbox/ and outbox/ (run 'gjj init' first)"
# fstab and mount options are whitespace-separated: keep paths simple.
[[ $home != *[[:space:]]* && $sftp_root != *[[:space:]]* ]] || die "paths with spaces are not supported"

user="${prefix}${unit}"
inbox_dir="$home/inbox/$unit"
outbox_dir="$home/outbox/$unit"
if [[ $layout == bind ]]; then
  chroot_dir="$sftp_root/$unit"
else
  chroot_dir="$home"
fi
nologin=$(command -v nologin || echo /usr/sbin/nologin)

# sshd refuses a chroot unless it and every directory above it are root-owned and writable by
# root only: check now rather than at the unit's first login.
check_chroot_path() {
  local path=$1 owner mode
  while :; do
    read -r owner mode < <(stat -c '%u %a' -- "$path")
    [[ $owner -eq 0 && $((8#$mode & 8#022)) -eq 0 ]] ||
      die "chroot component $path must be owned by root and not group/other-writable (is uid $owner, mode $mode)"
    [[ $path == / ]] && break
    path=$(dirname -- "$path")
  done
}

# authorized_keys lines on stdin, each with `restrict` first among its options on stdout.
# Options are comma-separated and may hold quoted text with commas and spaces (from="a,b").
restrict_keys() {
  awk '
    function is_key_type(word) { return word ~ /^(ssh-|ecdsa-|sk-)/ }
    {
      sub(/\r$/, ""); sub(/^[ \t]+/, "")
      if ($0 == "" || $0 ~ /^#/) next
      if (is_key_type($1)) { print "restrict " $0; next }
      # Split the options field: up to the first blank outside double quotes.
      line = $0; options = ""; n = 0; quoted = 0; current = ""
      for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (c == "\\" && quoted) { current = current c substr(line, i + 1, 1); i++; continue }
        if (c == "\"") quoted = !quoted
        if (!quoted && (c == " " || c == "\t")) break
        if (!quoted && c == ",") { option[++n] = current; current = ""; continue }
        current = current c
      }
      option[++n] = current
      rest = substr(line, i); sub(/^[ \t]+/, "", rest)
      split(rest, words, /[ \t]+/)
      if (quoted || !is_key_type(words[1])) { print "unusable key line " NR " skipped" > "/dev/stderr"; next }
      merged = "restrict"
      for (k = 1; k <= n; k++) {
        name = tolower(option[k]); sub(/=.*/, "", name)
        if (name ~ /^(restrict|pty|user-rc|x11-forwarding|agent-forwarding|port-forwarding|permitopen|permitlisten|tunnel)$/) continue
        if (option[k] != "") merged = merged "," option[k]
      }
      print merged " " rest
    }'
}

# Is there an fstab entry (not commented out) mounting something at $1?
in_fstab() {
  awk -v target="$1" '$1 !~ /^#/ && $2 == target { found = 1 } END { exit !found }' "$fstab"
}

# --- accounts ---------------------------------------------------------------------------------
getent group "$units_group" >/dev/null || groupadd "$units_group"
getent group "$user" >/dev/null || groupadd "$user"
if id -u "$user" >/dev/null 2>&1; then
  usermod --home "$chroot_dir" --shell "$nologin" --gid "$user" --append --groups "$units_group" "$user"
else
  useradd --no-create-home --home-dir "$chroot_dir" --shell "$nologin" --gid "$user" \
    --groups "$units_group" --comment "gjj unit $unit (SFTP only)" "$user"
fi
# No password at all ('*'), but not locked ('!'): sshd without PAM refuses locked accounts.
usermod --password '*' "$user"

# --- the unit's folders in GJJ_HOME -----------------------------------------------------------
# inbox: the unit (owner) creates files; setgid gives each one the processor's group, through which
# the processor reads it (uploads are 0640: internal-sftp -u 0027) and moves it to archive/ or
# quarantine/. The processor needs no membership in the unit's group: a `gjj watch` started before
# this unit existed reads its files as they come. Nobody else is in the processor's group.
mkdir -p -- "$inbox_dir"
chown -R -- "$user:$service_group" "$inbox_dir"
chmod -R -- u+rwX,g+rwX,o-rwx "$inbox_dir"
find "$inbox_dir" -type d -exec chmod g+s {} +
# outbox: the processor writes <batch_id>/ folders (a hidden staging folder renamed into place);
# setgid makes them and their files group-owned by the unit, which may read but never write.
mkdir -p -- "$outbox_dir"
chown -R -- "$service_user:$user" "$outbox_dir"
chmod -R -- g+rX,g-w,o-rwx "$outbox_dir"
find "$outbox_dir" -type d -exec chmod g+s {} +

# --- the authorised key -----------------------------------------------------------------------
install -d -o root -g root -m 0755 -- "$keys_dir"
# `restrict` turns off forwarding, ptys and rc for the key even if sshd_config were changed. A
# line that has options already keeps them after `restrict` (from="…", expiry-time="…", …), less
# those that would turn something back on (pty, port-forwarding, permitopen="…", …).
tmp_keys=$(mktemp)
trap 'rm -f -- "$tmp_keys"' EXIT
restrict_keys <"$key_file" >"$tmp_keys"
[[ -s $tmp_keys ]] && ssh-keygen -l -f "$tmp_keys" >/dev/null 2>&1 || die "$key_file: no usable key line after adding restrict"
install -o root -g root -m 0644 -- "$tmp_keys" "$keys_dir/$user"

# --- the chroot -------------------------------------------------------------------------------
if [[ $layout == bind ]]; then
  install -d -o root -g root -m 0755 -- "$sftp_root" "$chroot_dir"
  check_chroot_path "$chroot_dir"
  # The mount points; once mounted they are the unit's folders and are left alone here.
  for mount_point in "$chroot_dir/inbox" "$chroot_dir/outbox"; do
    mountpoint -q -- "$mount_point" || install -d -o root -g root -m 0755 -- "$mount_point"
  done
  if ! mountpoint -q -- "$chroot_dir/inbox"; then
    mount --bind -- "$inbox_dir" "$chroot_dir/inbox" || die "mount --bind is not permitted here: use GJJ_SFTP_LAYOUT=home"
  fi
  if ! mountpoint -q -- "$chroot_dir/outbox"; then
    mount --bind -- "$outbox_dir" "$chroot_dir/outbox"
  fi
  # Read-only for the unit whatever the modes say (a bind mount is made read-write first).
  mount -o remount,bind,ro -- "$chroot_dir/outbox"
  if [[ -n $fstab ]]; then
    touch -- "$fstab"
    in_fstab "$chroot_dir/inbox" || echo "$inbox_dir $chroot_dir/inbox none bind 0 0" >>"$fstab"
    in_fstab "$chroot_dir/outbox" || echo "$outbox_dir $chroot_dir/outbox none bind,ro 0 0" >>"$fstab"
  fi
else
  # The whole home is the chroot: root-owned, and nothing in it listable or readable by a unit
  # except the two folders of its own (reachable through the 0711 inbox/ and outbox/).
  chown root:root -- "$home"
  chmod 0711 -- "$home" "$home/inbox" "$home/outbox"
  # What the processor writes besides the unit folders is its own: `gjj run` as the service user
  # must be able to write the staff pages (outbox/_centre/) and move files to archive/ and
  # quarantine/. A root-owned outbox/_centre/ (made by add-unit.sh before this was fixed) is handed over.
  for folder in "$home/archive" "$home/quarantine" "$home/var" "$home/outbox/_centre"; do
    [[ -d $folder ]] || install -d -o "$service_user" -g "$service_group" -m 0750 -- "$folder"
  done
  if [[ $service_user != root && $(stat -c %u -- "$home/outbox/_centre") -eq 0 ]]; then
    chown -R -- "$service_user:$service_group" "$home/outbox/_centre"
  fi
  # A unit folder whose unit has no account (made by the processor before the unit got one, or
  # kept by remove-unit.sh) belongs to the service user: its old owner's and group's numeric ids
  # may be handed to a new account, which would then reach it through this chroot.
  for folder in "$home"/inbox/* "$home"/outbox/*; do
    name=${folder##*/}
    [[ -d $folder && ! -L $folder && $name != _centre ]] || continue
    id -u -- "${prefix}${name}" >/dev/null 2>&1 && continue
    find "$folder" \( ! -user "$service_user" -o ! -group "$service_group" \) -exec chown -h -- "$service_user:$service_group" {} +
  done
  # Folders of other units and the staff view outbox/_centre/ are closed to "other" too: unit
  # accounts are easy to guess.
  find "$home" "$home/inbox" "$home/outbox" -mindepth 1 -maxdepth 1 \
    ! -path "$home/inbox" ! -path "$home/outbox" -exec chmod o-rwx {} +
  check_chroot_path "$home"
fi

echo "unit $unit: SFTP account $user, chroot $chroot_dir ($layout layout)"
echo "  uploads:  $inbox_dir"
echo "  results:  $outbox_dir (read-only for the unit)"
