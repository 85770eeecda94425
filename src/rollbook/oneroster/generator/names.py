"""Fixed word lists: people's names, school names, e-mail domains and US area codes.

All data is invented or common-knowledge vocabulary. E-mail domains are the reserved
``example.*`` names (RFC 2606) and every phone number uses the fictional ``555`` exchange, so a
generated bundle can never reach a real person.
"""

from __future__ import annotations

import unicodedata

# Given names for children; a few carry diacritics or hyphens, as real rosters do.

CHILD_FEMALE = (  # noqa: SIM905
    "Olivia Emma Charlotte Amelia Sophia Mia Isabella Ava Evelyn Luna Harper Sofía Camila Chloé "
    "Zoë Renée Inés Lucía Valentina Ximena Mariana Aaliyah Nevaeh Imani Priya Ananya Mei Yuna "
    "Hana Fatima Aisha Leila Amara Nia Maya Elena Ana María Grace Lily Hannah Abigail Madison "
    "Emily Avery Ella Scarlett Aria Penelope Layla Nora Zoey Mila Hazel Stella Violet Aurora "
    "Savannah Audrey Brooklyn Claire Skylar Lucy Paisley Anna Caroline Genesis Kennedy Allison "
    "Sarah Adeline Alexa Ariana Gabriella Naomi Alice Sadie Hailey Eva Emilia Quinn Piper Ruby "
    "Willow Jade Ngozi Chiamaka Siobhan Anne-Marie Mary-Kate Thảo Bích Noémie Małgorzata"
).split()

CHILD_MALE = (  # noqa: SIM905
    "Liam Noah Oliver Elijah James William Benjamin Lucas Henry Theodore Jack Levi Alexander "
    "Jackson Mateo Daniel Michael Mason Sebastian Ethan Logan Owen Samuel Jacob Asher Aiden John "
    "Joseph Wyatt David Leo Luke Julian Hudson Grayson Matthew Ezra Gabriel Carter Isaac Jayden "
    "Luca Anthony Dylan Lincoln Thomas Elias Josiah Charles Caleb Christopher Miles Isaiah Andrew "
    "Joshua Nathan Nolan Adrian Cameron Santiago Eli Aaron Ryan Cooper Easton Kai Christian "
    "Landon Roman Axel Jonathan Robert Ian Everett Wesley José Joaquín Andrés Sebastián Matías "
    "Nicolás Raúl Jesús Ángel Tomás Kwame Chukwuemeka Oluwaseun Arjun Rohan Aarav Haruto Minjun "
    "Seo-jun Jean-Luc François Søren Björn Zoltán Mohammed Omar Yusuf Ibrahim Hassan Dmitri Wei "
    "Jian Hao Bảo Đức Minh"
).split()

ADULT_FEMALE = (  # noqa: SIM905
    "Jennifer Michelle Jessica Amanda Melissa Sarah Stephanie Nicole Elizabeth Heather Ashley "
    "Rebecca Laura Rachel Megan Lauren Kimberly Christina Amy Angela Erin Andrea Maria Lisa "
    "Danielle Katherine Tiffany Crystal Vanessa Monique Keisha Latoya Guadalupe Verónica Mónica "
    "Adriana Alejandra Rocío Beatriz Lourdes Mei-Ling Xiaoling Huong Priyanka Deepa Sunita "
    "Fatimah Yasmin Nadia Oksana Agnieszka Chantal Hélène Aoife Niamh Ngozi Folake Kateryna Inés "
    "Renée Zoë Chloé Anne-Marie"
).split()

ADULT_MALE = (  # noqa: SIM905
    "Christopher Matthew Joshua Jason Brian Kevin Robert Eric Steven Jeffrey Michael David Daniel "
    "James John Justin Andrew Ryan Anthony Mark Jose Juan Carlos Luis Jorge Miguel Alejandro "
    "Ramón Héctor Jesús Efraín Andrés Darnell Terrence Jamal Marcus Andre DeShawn Tuan Minh Wei "
    "Jun Hiroshi Rajesh Sanjay Vikram Ahmed Mohammed Tariq Yusuf Olusegun Chinedu Kofi Piotr "
    "Tomasz Sergei Dmitri Jean-Pierre François Seán Pádraig Björn Jürgen"
).split()

FAMILY = (  # noqa: SIM905
    "Smith Johnson Williams Brown Jones García Miller Davis Rodríguez Martínez Hernández López "
    "González Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Pérez Thompson White Harris "
    "Sánchez Clark Ramírez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Kim Patel Chen "
    "Wang Singh Ali Khan Cohen Müller Schröder Kowalski Nowak Ivanova Okafor Adeyemi Mensah "
    "Diallo Tanaka Suzuki Yamamoto Park Choi Tran Pham Le Hoang Gupta Shah Kumar Haddad Nasser "
    "Costa Silva Oliveira Souza Rossi Russo Bianchi Dubois Lefèvre Núñez Muñoz Peña Ibáñez Ortiz "
    "Cruz Reyes Morales Gutiérrez Chávez Ramos Ruiz Vargas Castillo Jiménez Moreno Romero Álvarez "
    "Mendoza Herrera Medina Aguilar Washington Jefferson Brooks Bennett Foster Hughes Price "
    "Sanders Ross Henderson Coleman Jenkins Perry Powell Long Patterson Butler Barnes Fisher "
    "Murphy Kelly Howard Cooper Ward Cox Richardson Wood Watson Gray James Bailey Reed Nakamura "
    "Watanabe Ito Hashemi Karimi Abdullah Begum Hussain Mahmoud Yilmaz Demir Kaya Papadopoulos "
    "Georgiou Andersen Nilsson Virtanen Horváth Novák Dvořák Łukasiewicz Wiśniewski Petrović "
    "Jovanović Thorsdóttir McDonald MacLeod"
).split() + [
    "O'Brien",
    "O'Connor",
    "O'Neill",
    "D'Angelo",
    "D'Souza",
    "N'Diaye",
    "De La Cruz",
    "Van der Berg",
    "St. Clair",
    "Le Blanc",
    "Ó Briain",
]

NICKNAMES = {  # fmt: skip
    "Alexander": "Alex",
    "William": "Will",
    "Benjamin": "Ben",
    "Theodore": "Teddy",
    "Samuel": "Sam",
    "Nicolás": "Nico",
    "Christopher": "Chris",
    "Jonathan": "Jon",
    "Matthew": "Matt",
    "Isabella": "Bella",
    "Abigail": "Abby",
    "Gabriella": "Gabby",
    "Elizabeth": "Liz",
    "Michael": "Mike",
    "Joseph": "Joe",
    "Daniel": "Danny",
    "Sebastián": "Seba",
    "Valentina": "Vale",
    "Oluwaseun": "Seun",
    "Chukwuemeka": "Emeka",
    "Katherine": "Kate",
    "Robert": "Bobby",
    "Anthony": "Tony",
    "Josiah": "Jo",
}

SCHOOL_PLACES = (  # noqa: SIM905
    "Lincoln Roosevelt Washington Jefferson Kennedy Franklin Madison Adams Monroe Hamilton Cesar- "
    "Chavez Sojourner-Truth Harriet-Tubman Frederick-Douglass Rosa-Parks Amelia-Earhart Sally- "
    "Ride Mae-Jemison Thurgood-Marshall Dolores-Huerta Ruby-Bridges Helen-Keller "
    "Booker-T.-Washington Mark-Twain Walt-Whitman Emily-Dickinson Langston-Hughes Maya-Angelou "
    "John-Muir Rachel-Carson Grace-Hopper Ada-Lovelace Ellen-Ochoa Sequoyah Pocahontas Sacagawea"
).split()

PLACE_PREFIXES = (  # noqa: SIM905
    "North East West South Lake River Oak Cedar Pine Maple Willow Mill Spring Fair Green Sunny "
    "Clear Brook Elm Ash Birch Hickory Laurel Aspen Stone Silver Golden Meadow Highland Valley "
    "Park Eagle Falcon Hawk Fox Deer Bear Wolf Bay Harbor"
).split()

PLACE_SUFFIXES = (  # noqa: SIM905
    "view wood dale field crest side brook ridge hill mont haven ton land vale gate shore bend "
    "glen point"
).split()

GUARDIAN_DOMAINS = (
    "example.com",
    "example.net",
    "example.org",
    "mail.example.com",
    "inbox.example.net",
    "post.example.org",
)

GUARDIAN_DOMAIN_WEIGHTS = (30, 20, 10, 20, 12, 8)

DISTRICT_NAME = "Cedar Valley Unified School District"
DISTRICT_DOMAIN = "cedarvalley.example.org"
STUDENT_DOMAIN = "students.cedarvalley.example.org"

# Area codes whose 555-xxxx numbers phonenumbers accepts as valid US numbers (checked for
# sample lines; the test-suite validates every generated number); toll-free and
# non-geographic codes removed.
_AREA_CODE_TEXT = (  # noqa: SIM905
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 220 223 224 225 227 228 "
    "229 231 234 235 239 240 248 251 252 253 254 256 260 262 267 269 270 272 274 276 279 281 283 "
    "301 302 303 304 305 307 308 309 310 312 313 314 315 316 317 318 319 320 321 323 324 325 326 "
    "327 329 330 331 332 334 336 337 339 341 346 347 350 351 352 353 360 361 363 364 369 380 385 "
    "386 401 402 404 405 406 407 408 409 410 412 413 414 415 417 419 423 424 425 430 432 434 435 "
    "440 442 443 445 447 448 458 463 464 469 470 472 475 478 479 480 484 501 502 503 504 505 507 "
    "508 509 510 512 513 515 516 517 518 520 530 534 539 540 541 551 557 559 561 562 563 564 567 "
    "570 571 572 573 574 575 580 582 585 586 601 602 603 605 606 607 608 609 610 612 614 615 616 "
    "617 618 619 620 623 626 628 629 630 631 636 640 641 645 646 650 651 656 657 659 660 661 662 "
    "667 669 678 680 681 682 686 689 701 702 703 704 706 707 708 712 713 714 715 716 717 718 719 "
    "720 724 725 726 727 728 730 731 732 734 737 738 740 743 747 748 754 757 760 762 763 765 769 "
    "770 771 772 773 774 775 779 781 785 786 801 802 803 804 805 806 808 810 812 813 814 815 816 "
    "817 818 820 821 826 828 830 831 832 835 838 839 840 843 845 847 848 850 854 856 857 858 859 "
    "860 862 863 864 865 870 872 878 901 903 904 906 907 908 909 910 912 913 914 915 916 917 918 "
    "919 920 925 928 929 930 931 934 936 937 938 940 941 943 945 947 948 949 951 952 954 956 959 "
    "970 971 972 973 975 978 979 980 983 984 985 986 989"
).split()
AREA_CODES = tuple(int(x) for x in _AREA_CODE_TEXT)
PHONE_SLOTS = len(AREA_CODES) * 10_000


def ascii_fold(name: str) -> str:
    """Lower-case ASCII form of a name for e-mail local parts (``"O'Brien"`` → ``"obrien"``)."""
    decomposed = unicodedata.normalize("NFKD", name)
    replacements = {"ø": "o", "ł": "l", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe"}
    out = []
    for ch in decomposed.lower():
        if unicodedata.combining(ch):
            continue
        ch = replacements.get(ch, ch)
        if ch.isascii() and (ch.isalnum() or ch == "-"):
            out.append(ch)
    return "".join(out) or "x"
