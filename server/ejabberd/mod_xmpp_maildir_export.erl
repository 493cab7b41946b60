%%% mod_xmpp_maildir_export: the `ejabberdctl xmpp_maildir_export` command, which writes ejabberd's
%%% Mnesia archive (mod_mam, table archive_msg) and undelivered offline messages (mod_offline,
%%% table offline_msg) to ejabberdctl's standard output, one JSON object per line, for
%%% `xmpp-maildir import ejabberd+mnesia:-` (src/replay/sources/mnesia.ts; README, "Replay and
%%% import"). Read through ejabberd itself, never from Mnesia's files:
%%%
%%%   modules:
%%%     mod_xmpp_maildir_export: {}
%%%
%%%   ejabberdctl --no-timeout xmpp_maildir_export | xmpp-maildir import ejabberd+mnesia:- ...
%%%
%%% (--no-timeout: ejabberdctl otherwise gives up on a command after 60 s.)
%%%
%%% Read-only and consistent: one Mnesia transaction holds a read lock on both tables for the whole
%%% export, so it sees one state of them; ejabberd's own writes to them (a new message archived or
%%% stored offline) wait until it ends. Streamed: mnesia:foldl walks the table one key (one user)
%%% at a time and each record is written as soon as it is read; ejabberdctl runs the command in a
%%% process whose group leader is ejabberdctl's own, so every line goes straight to its stdout
%%% (Erlang's io protocol waits for each write, so nothing piles up on either side).
%%%
%%% Lines (ASCII only: everything else is a JSON \u escape, whatever ejabberdctl's encoding):
%%%   {"format":"xmpp-maildir-export","version":1,"node":N,"offline":COUNT|null,"archive":COUNT|null}
%%%   {"table":"offline","user":U,"server":S,"ts":MICROS,"xml":XML}
%%%   {"table":"archive","user":U,"server":S,"id":MAMID,"ts":MICROS,"kind":"chat"|"groupchat","peer":JID,"xml":XML}
%%%   {"end":true,"offline":N,"archive":N}
%%% A count of null: that table is not in Mnesia on this node (the module keeps it in SQL). "xml" is
%%% null for a record whose stanza is not valid UTF-8; the importer reports it and goes on.
%%% Record layouts (mod_mam.hrl, mod_offline.hrl; 23.01 and 24.x alike, 24.x appends origin_id to
%%% archive_msg) are read by position, so one build reads both.
-module(mod_xmpp_maildir_export).
-behaviour(gen_mod).

-export([start/2, stop/1, reload/3, depends/2, mod_options/1, mod_doc/0]).
%% the command
-export([export/0]).

-include("ejabberd_commands.hrl").
-include("xmpp.hrl").

-define(FORMAT_VERSION, 1).
%% Positions in #archive_msg{} (element 1 is the record name).
-define(A_US, 2).
-define(A_ID, 3).
-define(A_TIMESTAMP, 4).
-define(A_PEER, 5).
-define(A_PACKET, 7).
-define(A_TYPE, 9).
%% Positions in #offline_msg{}.
-define(O_US, 2).
-define(O_TIMESTAMP, 3).
-define(O_PACKET, 7).

%%%===================================================================
%%% gen_mod
%%%===================================================================
start(_Host, _Opts) ->
    ejabberd_commands:register_commands(?MODULE, commands()).

stop(Host) ->
    case gen_mod:is_loaded_elsewhere(Host, ?MODULE) of
        false -> ejabberd_commands:unregister_commands(commands());
        true -> ok
    end.

reload(_Host, _NewOpts, _OldOpts) ->
    ok.

depends(_Host, _Opts) ->
    [].

mod_options(_Host) ->
    [].

mod_doc() ->
    #{desc => [<<"Adds `ejabberdctl xmpp_maildir_export`: the Mnesia archive (mod_mam) and "
                 "offline messages (mod_offline) as JSON lines, for `xmpp-maildir import "
                 "ejabberd+mnesia:-`.">>]}.

commands() ->
    [#ejabberd_commands{
        name = xmpp_maildir_export, tags = [mam, offline],
        desc = "Write the Mnesia archive and offline messages for xmpp-maildir import",
        longdesc = "Writes mod_mam's archive_msg and mod_offline's offline_msg Mnesia tables to "
                   "standard output, one JSON object per line, read in one transaction (a consistent "
                   "snapshot; archiving waits until it ends). Pipe it into "
                   "`xmpp-maildir import ejabberd+mnesia:-`. Use ejabberdctl --no-timeout.",
        module = ?MODULE, function = export,
        args = [],
        result = {res, rescode}}].

%%%===================================================================
%%% The command
%%%===================================================================
export() ->
    Existing = mnesia:system_info(tables),
    Tables = [T || T <- [offline_msg, archive_msg], lists:member(T, Existing)],
    case Tables of
        [] ->
            line([{error, <<"neither archive_msg nor offline_msg is a Mnesia table on this node: "
                            "mod_mam and mod_offline keep their data in SQL (db_type); import that "
                            "database with ejabberd+sqlite: or ejabberd+postgresql: instead">>}]),
            error;
        _ ->
            Result = mnesia:transaction(fun() -> export(Tables) end),
            erase(xmpp_maildir_export_started),
            case Result of
                {atomic, ok} ->
                    ok;
                {aborted, Reason} ->
                    line([{error, iolist_to_binary(io_lib:format("the export stopped: ~p", [Reason]))}]),
                    error
            end
    end.

export(Tables) ->
    %% Locks first and output after: a transaction restarted for a lock conflict must not write
    %% anything twice (the table locks are the only locks it takes).
    lists:foreach(fun mnesia:read_lock_table/1, Tables),
    case get(xmpp_maildir_export_started) of
        true -> mnesia:abort(restarted_after_writing);
        _ -> put(xmpp_maildir_export_started, true)
    end,
    Size = fun(T) -> case lists:member(T, Tables) of
                         true -> mnesia:table_info(T, size);
                         false -> null
                     end end,
    line([{format, <<"xmpp-maildir-export">>}, {version, ?FORMAT_VERSION},
          {node, atom_to_binary(node(), utf8)},
          {offline, Size(offline_msg)}, {archive, Size(archive_msg)}]),
    %% Offline first: the importer files those in INBOX and skips their archive copies.
    Offline = fold(offline_msg, Tables, fun offline_line/1),
    Archive = fold(archive_msg, Tables, fun archive_line/1),
    line([{'end', true}, {offline, Offline}, {archive, Archive}]),
    ok.

fold(Table, Tables, ToLine) ->
    case lists:member(Table, Tables) of
        false -> 0;
        true -> mnesia:foldl(fun(Rec, N) -> line(ToLine(Rec)), N + 1 end, 0, Table)
    end.

offline_line(Rec) ->
    {User, Server} = element(?O_US, Rec),
    [{table, <<"offline">>}, {user, User}, {server, Server},
     {ts, micros(element(?O_TIMESTAMP, Rec))}, {xml, packet(element(?O_PACKET, Rec))}].

archive_line(Rec) ->
    {User, Server} = element(?A_US, Rec),
    Peer = case element(?A_PEER, Rec) of
               {_, _, _} = LJID -> jid:encode(LJID);
               _ -> null
           end,
    [{table, <<"archive">>}, {user, User}, {server, Server}, {id, element(?A_ID, Rec)},
     {ts, micros(element(?A_TIMESTAMP, Rec))}, {kind, atom_to_binary(element(?A_TYPE, Rec), utf8)},
     {peer, Peer}, {xml, packet(element(?A_PACKET, Rec))}].

micros({Mega, Sec, Micro}) -> (Mega * 1000000 + Sec) * 1000000 + Micro;
micros(_) -> null.

packet(#xmlel{} = El) -> fxml:element_to_binary(El);
packet(Pkt) ->
    try fxml:element_to_binary(xmpp:encode(Pkt))
    catch _:_ -> null
    end.

%%%===================================================================
%%% JSON, ASCII only
%%%===================================================================
line(Fields) ->
    Members = [[json_string(atom_to_binary(K, utf8)), $:, json_value(V)] || {K, V} <- Fields],
    io:put_chars([${, lists:join($,, Members), $}, $\n]).

json_value(null) -> <<"null">>;
json_value(true) -> <<"true">>;
json_value(false) -> <<"false">>;
json_value(N) when is_integer(N) -> integer_to_binary(N);
json_value(B) when is_binary(B) -> json_string(B).

json_string(Bin) ->
    case unicode:characters_to_list(Bin, utf8) of
        Chars when is_list(Chars) -> [$", [escape(C) || C <- Chars], $"];
        _ -> <<"null">>
    end.

escape($") -> "\\\"";
escape($\\) -> "\\\\";
escape(C) when C >= 16#20, C < 16#7F -> C;
escape(C) when C < 16#10000 -> ["\\u", hex4(C)];
escape(C) ->
    V = C - 16#10000,
    [escape(16#D800 bor (V bsr 10)), escape(16#DC00 bor (V band 16#3FF))].

hex4(C) -> [hex((C bsr S) band 15) || S <- [12, 8, 4, 0]].

hex(D) when D < 10 -> $0 + D;
hex(D) -> $a + D - 10.
