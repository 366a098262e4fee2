# A --trace file as the lines tests/test_model.c reads: per cycle
#   cycle NUMBER TIME SECONDS HOST_FREE_KIB GUESTS
# then per guest (absent figures as -1; requested is where the coordinator
# sent the balloon that cycle, applied 1 when libvirt took it)
#   guest NAME ACTUAL_KIB MAX_KIB UNUSED_KIB AVAILABLE_KIB LAST_UPDATE REQUESTED_KIB APPLIED
"cycle \(.cycle) \(.time) \(.t) \(.host_free_kib) \(.guests | length)",
(.guests[] | "guest \(.name) \(.actual_kib) \(.max_kib) \(.unused_kib // -1) \(.available_kib // -1) \(.last_update // -1) \(.target_kib + .delta_kib) \(if .outcome == "applied" then 1 else 0 end)")
