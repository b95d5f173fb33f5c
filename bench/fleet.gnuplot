# Plots bench/fleet.sh's summary (fleet-summary.tsv):
#   gnuplot -e "summary='OUT/fleet-summary.tsv'; output='docs/fleet.svg'" bench/fleet.gnuplot
# Left: certificates/s by fleet size, per arm. Right: CPU per certificate of the signer (all
# replicas) and of Pebble in each arm.
set terminal svg size 1100,450 dynamic font "sans,12" background "#ffffff"
set output output
set datafile separator "\t"
set key top left
set grid
set logscale x 2
arms = "sqlite pg1 pg3 direct"
labels = "'1 replica, SQLite' '1 replica, PostgreSQL' '3 replicas, PostgreSQL' 'direct (no signer)'"
rows(a) = sprintf("< awk -F'\t' '$1 == \"%s\"' '%s'", a, summary)
set multiplot layout 1,2
set title "Fleet: certificates/s (median of rounds)"
set xlabel "concurrent agents (N)"
set ylabel "certificates/s"
set yrange [0:*]
plot for [i=1:words(arms)] rows(word(arms, i)) using 2:5 with linespoints lw 2 pt 7 title word(labels, i)
set title "CPU per certificate (median of rounds)"
set ylabel "ms of CPU per certificate"
plot for [i=1:3] rows(word(arms, i)) using 2:($9*1000) with linespoints lw 2 pt 7 title sprintf("signer, %s", word(labels, i)), \
     for [i=1:words(arms)] rows(word(arms, i)) using 2:($10*1000) with linespoints lw 1 dt 2 pt 6 title sprintf("Pebble, %s", word(labels, i))
unset multiplot
